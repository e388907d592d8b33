package batch

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// env is one test's fleet: a control plane, a Redis database, one shared
// instance database with tenants, and the batch pools over it.
type env struct {
	fleet    string
	cp       *pgxpool.Pool
	store    *controlplane.Store
	rdb      *redis.Client
	queue    *queue.Client
	catalog  *controlplane.Store
	sessions *sessions.Sessions
	admin    *pgxpool.Pool // admin pool on the instance database
	pools    *tenants.Pools
	tenants  []string
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// setup builds a fleet with one ready instance holding n active tenants
// whose roles can log in. The tenant pools are built only when pools is
// set (they need the router).
func setup(t *testing.T, n int, pools bool) *env {
	t.Helper()
	ctx := testContext(t)
	e := &env{fleet: cptest.UniqueName("bt")}
	adminURL := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	cptest.DropFleetRolesAtCleanup(t, adminURL, e.fleet)
	_, e.cp = cptest.Database(t)
	e.store = controlplane.NewStore(e.cp)
	_, e.rdb = cptest.RedisDB(t)
	e.queue = queue.NewClient(e.rdb)
	t.Cleanup(func() { _ = e.queue.Close() })
	e.catalog = e.store
	e.sessions = sessionstest.Local(t, adminURL)

	database := cptest.ScratchDatabase(t)
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	inst, err := e.catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "inst-a",
		Status: provider.StatusReady, Host: u.Hostname(), Port: port, Database: database}, Provider: "local", Tier: tenants.Shared})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	if e.admin, err = e.sessions.Admin(ctx, inst); err != nil {
		t.Fatalf("admin pool: %v", err)
	}
	if err := tenants.PrepareDatabase(ctx, e.admin, e.fleet, database); err != nil {
		t.Fatalf("PrepareDatabase: %v", err)
	}
	for i := range n {
		id := fmt.Sprintf("tenant-%03d", i)
		names, err := tenants.NamesFor(e.fleet, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.catalog.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared}); err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		if err := tenants.EnsureTenant(ctx, e.admin, names); err != nil {
			t.Fatalf("EnsureTenant: %v", err)
		}
		if err := e.sessions.EnableLogin(ctx, e.admin, names); err != nil {
			t.Fatalf("EnableLogin: %v", err)
		}
		if _, err := e.catalog.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: inst.ID, Database: database,
			Schema: names.Schema, Role: names.Role}); err != nil {
			t.Fatalf("SetTenantPlacement: %v", err)
		}
		if _, err := e.catalog.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
			t.Fatalf("SetTenantStatus: %v", err)
		}
		e.tenants = append(e.tenants, id)
	}
	if pools {
		router, err := tenants.NewRouter(tenants.RouterConfig{Source: e.catalog, Redis: e.rdb, Fleet: e.fleet, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(router.Stop)
		e.pools, err = e.sessions.TenantPools(tenants.PoolsConfig{Resolver: router, Fleet: e.fleet, PoolSize: 2,
			InteractiveReserve: -1, Logger: cptest.DiscardLogger()}, e.catalog.GetInstance)
		if err != nil {
			t.Fatalf("TenantPools: %v", err)
		}
		t.Cleanup(e.pools.Stop)
	}
	return e
}

// asTenant runs sql on the instance as the tenant's role, the way the
// tenant's own application would.
func (e *env) asTenant(t *testing.T, tenantID, sql string) {
	t.Helper()
	names, _ := tenants.NamesFor(e.fleet, tenantID)
	cptest.AsTenant(t, e.admin, names.Role, names.Schema, sql)
}

// agent builds an agent over the env with the given kinds.
func (e *env) agent(t *testing.T, kinds ...Kind) *Agent {
	t.Helper()
	var scope Scope
	if e.pools != nil {
		scope = e.pools
	}
	a, err := New(Config{Store: e.store, Queue: e.queue, Scope: scope, Kinds: kinds,
		Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("batch.New: %v", err)
	}
	return a
}
