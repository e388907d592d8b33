package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// The example application serves a provisioned tenant's accounts through
// the fleet's routes and pools, refuses a request without its token before
// any SQL, rejects a bad body, and publishes its pool statistics to Redis.
func TestExampleApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fleet := cptest.UniqueName("ea")[:9]
	cptest.DropFleetOnCleanup(t, fleet)
	_, cp := cptest.Database(t)
	store := controlplane.NewStore(cp)
	_, rdb := cptest.RedisDB(t)
	adminURL := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	database := cptest.ScratchDatabase(t)
	admin, err := pgxpool.New(ctx, config.WithDatabase(adminURL, database))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	u, _ := url.Parse(adminURL)
	port, _ := strconv.Atoi(u.Port())
	inst, err := store.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "001-shared",
		Status: provider.StatusReady, Host: u.Hostname(), Port: port, Database: database}, Provider: "local", Tier: tenants.Shared})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := tenants.NamesFor(fleet, "acme-bank")
	if err := tenants.PrepareDatabase(ctx, admin, fleet, database); err != nil {
		t.Fatal(err)
	}
	if err := tenants.EnsureTenant(ctx, admin, names); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTenant(ctx, controlplane.Tenant{ID: "acme-bank", Name: "Acme", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantPlacement(ctx, "acme-bank", controlplane.Placement{InstanceID: inst.ID, Database: database,
		Schema: names.Schema, Role: names.Role}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantStatus(ctx, "acme-bank", tenants.TenantActive, ""); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{names.Role}.Sanitize()+"; SET LOCAL search_path = "+pgx.Identifier{names.Schema}.Sanitize()+
			"; CREATE TABLE accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), external_ref text NOT NULL, holder_name text NOT NULL,"+
			" currency char(3) NOT NULL, status text NOT NULL DEFAULT 'active', opened_at timestamptz NOT NULL DEFAULT now())")
		return err
	}); err != nil {
		t.Fatal(err)
	}

	const token = "example-token-0123456789"
	a, err := newApp(ctx, appConfig{Store: store, Redis: rdb, Fleet: fleet, Token: token, ProcessID: "exampleapp-test",
		Logger: cptest.DiscardLogger(), Pools: tenants.PoolsConfig{PoolSize: 4, StatsInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	do := func(method, path, body string, auth bool) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", "/t/acme-bank/accounts", "", false); code != http.StatusForbidden {
		t.Fatalf("without the token: %d, want 403", code)
	}
	if code, _ := do("POST", "/t/acme-bank/accounts", `{"holder_name":"x"}`, true); code != http.StatusBadRequest {
		t.Fatalf("bad body: %d, want 400", code)
	}
	if code, body := do("POST", "/t/acme-bank/accounts", `{"external_ref":"r1","holder_name":"Ada","currency":"EUR"}`, true); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body := do("GET", "/t/acme-bank/accounts", "", true)
	var got struct{ Accounts []account }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || len(got.Accounts) != 1 || got.Accounts[0].HolderName != "Ada" {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := do("POST", "/t/acme-bank/work?ms=5", "", true); code != http.StatusNoContent {
		t.Fatalf("work: %d", code)
	}
	if code, _ := do("POST", "/t/acme-bank/work?ms=-1", "", true); code != http.StatusBadRequest {
		t.Fatalf("bad ms: %d", code)
	}
	if err := a.pools.PublishStats(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, tenants.StatsKey(fleet, "exampleapp-test")).Bytes()
	var ps tenants.ProcessStats
	if err != nil || json.Unmarshal(raw, &ps) != nil || len(ps.Pools) != 1 || ps.Pools[0].Pool != "instance:001-shared" {
		t.Fatalf("published statistics = %s, %v", raw, err)
	}
}
