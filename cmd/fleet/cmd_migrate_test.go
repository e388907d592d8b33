package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestMigrateUpIdempotencyKey: `fleet migrate up --idempotency-key K`
// repeated names the run K started instead of starting another; K with
// other flags is refused. No worker runs: only the runs are looked at.
func TestMigrateUpIdempotencyKey(t *testing.T) {
	t.Parallel()
	env, db, _ := scratchFleet(t, "c")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	catalog := controlplane.NewStore(db)
	if _, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "ia", Status: provider.StatusReady, Database: "nowhere"}, Provider: "local", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alpha-co", "beta-co"} {
		names, err := tenants.NamesFor(env["FLEET_NAME"], id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared}); err != nil {
			t.Fatal(err)
		}
		if _, err := catalog.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: "ia", Database: "nowhere",
			Schema: names.Schema, Role: names.Role}); err != nil {
			t.Fatal(err)
		}
		if _, err := catalog.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv, &out, io.Discard)
		return out.String(), err
	}
	runs := func() int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM migration_runs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if out, err := cli("migrate", "up", "--concurrency", "2", "--idempotency-key", "release-7"); err != nil || out != "migration run 1 started\n" {
		t.Fatalf("first migrate up: %v\n%s", err, out)
	}
	out, err := cli("migrate", "up", "--idempotency-key", "release-7", "--concurrency", "2")
	if err != nil || !strings.Contains(out, "migration run 1 was started with this idempotency key (running)") {
		t.Errorf("repeated migrate up: %v\n%s", err, out)
	}
	if _, err := cli("migrate", "up", "--concurrency", "3", "--idempotency-key", "release-7"); err == nil ||
		!strings.Contains(err.Error(), "different run spec (run 1)") {
		t.Errorf("same key, other flags: got %v, want the key refused", err)
	}
	if n := runs(); n != 1 {
		t.Errorf("runs: got %d, want 1", n)
	}
	if out, err := cli("migrate", "up", "--concurrency", "2"); err != nil || out != "migration run 2 started\n" {
		t.Errorf("migrate up without a key: %v\n%s", err, out)
	}
}
