package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestCostApplyStartsOneRun: `fleet cost apply REC` records one run that
// carries the index statement and attaches it to the recommendation;
// repeated, it names the same run. No worker runs: the build itself is
// tested in agents/cost.
func TestCostApplyStartsOneRun(t *testing.T) {
	t.Parallel()
	env, db, _ := scratchFleet(t, "k")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	catalog := controlplane.NewStore(db)
	if _, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "ia", Status: provider.StatusReady, Database: "nowhere"}, Provider: "local", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	names, err := tenants.NamesFor(env["FLEET_NAME"], "alpha-co")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: "alpha-co", Name: "alpha-co", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.SetTenantPlacement(ctx, "alpha-co", controlplane.Placement{InstanceID: "ia", Database: "nowhere",
		Schema: names.Schema, Role: names.Role}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.SetTenantStatus(ctx, "alpha-co", tenants.TenantActive, ""); err != nil {
		t.Fatal(err)
	}
	rec, err := catalog.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex, Key: "orders(customer_id)",
		Tenants: []string{"alpha-co"}, Evidence: []byte(`{"table": "orders", "columns": ["customer_id"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv, &out, io.Discard)
		return out.String(), err
	}
	const stmt = `CREATE INDEX CONCURRENTLY IF NOT EXISTS "fleet_orders_customer_id_idx" ON "orders" ("customer_id")`
	out, err := cli("cost", "apply", "1")
	if err != nil || out != "recommendation 1: migration run 1 started for 1 tenants: "+stmt+"\n" {
		t.Fatalf("cost apply: %v\n%s", err, out)
	}
	if out, err := cli("cost", "apply", "1"); err != nil || !strings.Contains(out, "migration run 1 was started by an earlier apply") {
		t.Errorf("repeated cost apply: %v\n%s", err, out)
	}
	var runs int
	var stored string
	if err := db.QueryRow(ctx, `SELECT count(*), max(statement) FROM migration_runs`).Scan(&runs, &stored); err != nil || runs != 1 || stored != stmt {
		t.Errorf("runs %d statement %q (%v), want one run carrying the statement", runs, stored, err)
	}
	got, err := catalog.GetRecommendation(ctx, rec.ID)
	if err != nil || got.Status != controlplane.RecommendationOpen || got.MigrationRunID == nil || *got.MigrationRunID != 1 {
		t.Errorf("recommendation %+v (%v), want open and attached to run 1", got, err)
	}
	if _, err := cli("cost", "apply", "x"); !errors.Is(err, errUsage) {
		t.Errorf("cost apply x: %v, want a usage error", err)
	}
}
