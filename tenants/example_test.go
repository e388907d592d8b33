package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Example shows application code: an HTTP handler that gets its tenant from
// the middleware, reads and writes the tenant's own tables in one scoped
// transaction, runs a batch job at batch priority, and maps an exhausted
// pool to 503 + Retry-After. The middleware's Authorize hook checks the
// tenant named by the request against the application's own
// authentication (here a stand-in: a user header and a membership table);
// a user asking for another tenant gets 403. The set-up (a scratch fleet
// with one tenant "acme-bank" owning a table notes) is in exampleFleet.
func Example() {
	router, pools, cleanup := exampleFleet()
	defer cleanup()
	ctx := context.Background()

	// Who may act for which tenant: in a real application, from the
	// session or the token's claims, never from the tenant header itself.
	members := map[string]string{"ada": "acme-bank", "mallory": "evil-corp"}
	authorize := func(r *http.Request, tenantID string) error {
		if members[r.Header.Get("X-Example-User")] != tenantID {
			return errors.New("not a member of this tenant")
		}
		return nil
	}

	handler := tenants.Middleware(tenants.MiddlewareConfig{Resolver: router, Authorize: authorize},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tenant, _ := tenants.TenantFromContext(r.Context())
			var count int
			err := pools.WithTenant(r.Context(), tenant, func(ctx context.Context, tx pgx.Tx) error {
				// Unqualified names resolve in the tenant's own schema.
				if _, err := tx.Exec(ctx, "INSERT INTO notes (body) VALUES ($1)", "hello"); err != nil {
					return err
				}
				return tx.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&count)
			})
			if err != nil {
				if tenants.WriteUnavailable(w, err) { // 503 + Retry-After on ErrPoolExhausted
					return
				}
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%s has %d note(s)", tenant, count)
		}))

	for _, user := range []string{"ada", "mallory"} {
		req := httptest.NewRequest(http.MethodPost, "/notes", nil)
		req.Header.Set("X-Example-User", user)
		req.Header.Set("X-Tenant-ID", "acme-bank")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(user, rec.Code, strings.TrimSpace(rec.Body.String()))
	}

	// A batch job: admitted after interactive work, never from the
	// connection kept for it.
	batch := tenants.WithPriority(ctx, tenants.Batch)
	var n int
	if err := pools.QueryRow(batch, "acme-bank", "SELECT count(*) FROM notes").Scan(&n); err != nil {
		fmt.Println(err)
	}
	fmt.Println("batch count:", n)

	_, err := router.Resolve(ctx, "no-such-tenant")
	fmt.Println(errors.Is(err, tenants.ErrTenantNotFound))
	// Output:
	// ada 200 acme-bank has 1 note(s)
	// mallory 403 not allowed to act for this tenant
	// batch count: 1
	// true
}

// exampleFleet builds a scratch fleet on the configured servers: a
// control plane, an instance database prepared for the fleet, one tenant.
// cleanup removes it all.
func exampleFleet() (*tenants.Router, *tenants.Pools, func()) {
	ctx := context.Background()
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	must := func(err error) {
		if err != nil {
			cleanup()
			panic(err)
		}
	}
	cfg, err := config.Load(os.Getenv)
	must(err)
	u, err := url.Parse(cfg.DatabaseURL)
	must(err)
	host, port := u.Hostname(), 5432
	if u.Port() != "" {
		port, err = strconv.Atoi(u.Port())
		must(err)
	}
	fleet := cptest.UniqueName("x")
	cpDB, dataDB := cptest.UniqueName("tftest_"), cptest.UniqueName("tftest_")
	admin, err := pgx.Connect(ctx, config.WithDatabase(cfg.DatabaseURL, "postgres"))
	must(err)
	undo = append(undo, func() {
		for _, db := range []string{dataDB, cpDB} {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		}
		_ = tenants.DropFleetRoles(ctx, admin, fleet)
		_ = admin.Close(ctx)
	})
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dataDB}.Sanitize())
	must(err)
	cp, err := controlplane.Open(ctx, config.WithDatabase(cfg.DatabaseURL, cpDB), cptest.DiscardLogger())
	must(err)
	undo = append(undo, cp.Close)
	// redisconn reads every form of FLEET_REDIS_URL (TLS, Sentinel); any
	// redis.UniversalClient will do.
	target, err := redisconn.New(cfg.Redis())
	must(err)
	rdb := target.NewClient()
	undo = append(undo, func() {
		keys, _ := rdb.Keys(ctx, fleet+":*").Result()
		for _, k := range keys {
			rdb.Del(ctx, k)
		}
		_ = rdb.Close()
	})
	cat := controlplane.NewStore(cp)
	data, err := pgx.Connect(ctx, config.WithDatabase(cfg.DatabaseURL, dataDB))
	must(err)
	defer data.Close(ctx)
	must(tenants.PrepareDatabase(ctx, data, fleet, dataDB))
	names, err := tenants.NamesFor(fleet, "acme-bank")
	must(err)
	must(tenants.EnsureTenant(ctx, data, names))
	_, err = data.Exec(ctx, "CREATE TABLE "+pgx.Identifier{names.Schema, "notes"}.Sanitize()+" (id serial PRIMARY KEY, body text)")
	must(err)
	_, err = data.Exec(ctx, "ALTER TABLE "+pgx.Identifier{names.Schema, "notes"}.Sanitize()+" OWNER TO "+pgx.Identifier{names.Role}.Sanitize())
	must(err)
	inst, err := cat.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "shared-1", Status: provider.StatusReady, Host: host, Port: port, Database: dataDB}, Provider: "local", Tier: tenants.Shared})
	must(err)
	_, err = cat.CreateTenant(ctx, controlplane.Tenant{ID: "acme-bank", Name: "ACME Bank", Tier: tenants.Shared})
	must(err)
	_, err = cat.SetTenantPlacement(ctx, "acme-bank", controlplane.Placement{InstanceID: inst.ID, Database: dataDB, Schema: names.Schema, Role: names.Role})
	must(err)
	_, err = cat.SetTenantStatus(ctx, "acme-bank", tenants.TenantActive, "")
	must(err)

	router, err := tenants.NewRouter(tenants.RouterConfig{Source: cat, Redis: rdb, Fleet: fleet})
	must(err)
	must(router.Start(ctx))
	undo = append(undo, router.Stop)
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: router, Fleet: fleet, PoolSize: 20,
		AcquireTimeout: 5 * time.Second, Redis: rdb, ConnParams: u.RawQuery})
	must(err)
	must(pools.Start(ctx))
	undo = append(undo, pools.Stop)
	return router, pools, cleanup
}
