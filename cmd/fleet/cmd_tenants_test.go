package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestTenantsShowJSONAndList(t *testing.T) {
	dbURL, db := cptest.Database(t)
	redisURL, _ := cptest.RedisDB(t)
	env := map[string]string{"FLEET_DATABASE_URL": dbURL, "FLEET_REDIS_URL": redisURL}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	catalog := controlplane.NewStore(db)
	if _, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "i1", Status: provider.StatusReady, Host: "127.0.0.1", Port: 5432, Database: "db1", MaxConnections: 50}, Provider: "local", Tier: tenants.Shared, MaxTenants: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: "acme", Name: "Acme", Tier: tenants.Shared, Status: tenants.TenantPending}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.SetTenantPlacement(ctx, "acme", controlplane.Placement{InstanceID: "i1", Database: "db1", Schema: "t_acme", Role: "tf_t_acme"}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"tenants", "show", "acme", "--json"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out.String())
	}
	for _, key := range []string{"id", "name", "tier", "status", "instance", "database", "schema", "role"} {
		if _, ok := got[key]; !ok {
			t.Errorf("show --json lacks %q: %s", key, out.String())
		}
	}
	if got["instance"] != "i1" || got["schema"] != "t_acme" {
		t.Errorf("show --json = %v, want instance i1 schema t_acme", got)
	}

	out.Reset()
	if err := run(ctx, []string{"tenants", "list"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "acme") || !strings.Contains(out.String(), "t_acme") {
		t.Errorf("tenants list output:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"instances", "list", "--json"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"tenants": 1`) {
		t.Errorf("instances list --json:\n%s", out.String())
	}

	err := run(ctx, []string{"tenants", "show", "Robert'); DROP TABLE tenants;--"}, getenv, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Errorf("show with an invalid id: %v, want a usage error before any SQL", err)
	}
	err = run(ctx, []string{"tenants", "show", "nobody"}, getenv, io.Discard, io.Discard)
	if !errors.Is(err, errNotFound) {
		t.Errorf("show unknown: %v, want not found (404)", err)
	}
}
