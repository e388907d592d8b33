package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
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

// TestCostAnalyzeQueuesAndWaitsForTheWorker: `fleet cost analyze` queues
// one cost:analyze task (a second is already queued); with a real worker
// serving it, --wait returns once the worker's report exists and prints
// it; a failing analysis makes --wait exit non-zero with the task's
// error; with no worker, --timeout ends the wait.
func TestCostAnalyzeQueuesAndWaitsForTheWorker(t *testing.T) {
	t.Parallel()
	env, db, rdb := scratchFleet(t, "ca")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	catalog := controlplane.NewStore(db)

	if out, _, err := cli("cost", "analyze"); err != nil || out != "cost analysis queued: task cost:analyze:request on queue default (latest report 0)\n" {
		t.Fatalf("cost analyze: %v\n%s", err, out)
	}
	if out, _, err := cli("cost", "analyze"); err != nil || !strings.HasPrefix(out, "cost analysis already queued: task cost:analyze:request") {
		t.Fatalf("second cost analyze: %v\n%s", err, out)
	}
	if _, _, err := cli("cost", "analyze", "--wait", "--timeout", "300ms"); err == nil || !strings.Contains(err.Error(), "no report after --timeout 300ms") {
		t.Fatalf("--wait with no worker: %v, want the timeout", err)
	}
	if _, err := catalog.LatestCostReport(ctx); !errors.Is(err, controlplane.ErrNoCostReport) {
		t.Fatalf("a report exists before any worker ran: %v", err)
	}

	// A worker of the fleet's queues with the analyzer's handler.
	analyzer, err := cost.New(cost.Config{Store: catalog, Sessions: sessionstest.Local(t, cptest.ServerConfig(t).DatabaseURL),
		Fleet: env["FLEET_NAME"], Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: rdb, Concurrency: 2, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	analyzer.Register(w)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	out, progress, err := cli("cost", "analyze", "--wait")
	if err != nil {
		t.Fatalf("cost analyze --wait: %v\n%s%s", err, out, progress)
	}
	first, err := catalog.LatestCostReport(ctx)
	if err != nil {
		t.Fatalf("--wait returned before the report: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("report %d: 0 instances, 0 tenants", first.ID)) || !strings.Contains(progress, "analysis task ") {
		t.Errorf("--wait printed\n%s%s\nwant progress and report %d", out, progress, first.ID)
	}
	out, _, err = cli("cost", "analyze", "--wait")
	if err != nil || !strings.Contains(out, fmt.Sprintf("(latest report %d)", first.ID)) || !strings.Contains(out, fmt.Sprintf("report %d:", first.ID+1)) {
		t.Errorf("second --wait: %v\n%s, want a report after %d", err, out, first.ID)
	}

	// An instance the analysis cannot reach fails it: --wait says so.
	if _, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "gone", Status: provider.StatusReady,
		Host: "127.0.0.1", Port: 5432, Database: "no_such_database_" + env["FLEET_NAME"]}, Provider: "local", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	names, err := tenants.NamesFor(env["FLEET_NAME"], "beta-co")
	if err != nil {
		t.Fatal(err)
	}
	if err := catalog.ImportTenants(ctx, []controlplane.Tenant{{ID: "beta-co", Name: "beta-co", Tier: tenants.Shared, Status: tenants.TenantActive,
		InstanceID: "gone", Database: "no_such_database_" + env["FLEET_NAME"], Schema: names.Schema, Role: names.Role}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = cli("cost", "analyze", "--wait")
	if !errors.Is(err, cost.ErrAnalysisFailed) || !strings.Contains(err.Error(), "instance gone") {
		t.Errorf("--wait on a failing analysis: %v, want ErrAnalysisFailed naming the instance", err)
	}
	if _, _, err := cli("cost", "analyze", "--timeout", "0s"); !errors.Is(err, errUsage) {
		t.Errorf("--timeout 0s: %v, want a usage error", err)
	}
}
