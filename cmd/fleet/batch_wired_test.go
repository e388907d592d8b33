package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// The wired fleet's scheduler and worker run the compliance snapshot of a
// tenant onboarded through the fleet: the scheduler's catch-up enqueues the
// tenant's run of the current period, the worker runs it logged in as the
// tenant (through the provider's connector and the tenant's derived
// password) and records the run and the tenant's tables.
func TestWiredFleetRunsComplianceSnapshot(t *testing.T) {
	env, db, _ := scratchFleet(t, "bw")
	// A 30s period spread over 30s: every tenant runs within half a minute.
	env["FLEET_BATCH_JOBS"] = "compliance-snapshot=30s/30s"
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, svc := wireFleet(t, ctx, env)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log, TaskCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterHandlers(w)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var out bytes.Buffer
	if err := run(ctx, []string{"tenants", "onboard", "snap-co", "--name", "Snap", "--wait"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("onboard: %v\n%s", err, out.String())
	}
	store := controlplane.NewStore(db)
	tn, err := store.GetTenant(ctx, "snap-co")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, config.WithDatabase(a.cfg.LocalAdminURL, tn.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	names, _ := tenants.NamesFor(a.cfg.Name, "snap-co")
	if _, err := admin.Exec(ctx, "CREATE TABLE "+pgx.Identifier{names.Schema, "invoices"}.Sanitize()+
		" AS SELECT g AS id FROM generate_series(1, 42) g; ALTER TABLE "+pgx.Identifier{names.Schema, "invoices"}.Sanitize()+
		" OWNER TO "+pgx.Identifier{names.Role}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	sched, err := svc.NewScheduler(a.conns())
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sched.Stop()
	var runs []controlplane.BatchRun
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		runs, err = store.ListBatchRuns(ctx, controlplane.BatchRunFilter{TenantID: "snap-co", Kind: batch.ComplianceSnapshotKind})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) > 0 && runs[len(runs)-1].Outcome != controlplane.BatchRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished compliance snapshot of snap-co: %+v", runs)
		}
	}
	first := runs[len(runs)-1]
	if first.Outcome != controlplane.BatchSucceeded {
		t.Fatalf("snapshot run %+v, want succeeded", first)
	}
	tables, err := store.ComplianceSnapshot(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tb := range tables {
		if tb.Table == "invoices" {
			found = tb.Rows == 42 && tb.SizeBytes > 0
		}
	}
	if !found {
		t.Errorf("snapshot tables %+v, want invoices with 42 rows", tables)
	}
}
