package batch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

var testSlot = time.Date(2026, 1, 1, 0, 7, 0, 0, time.UTC)

// The compliance snapshot of a tenant records its own tables' sizes and
// exact row counts, nothing of its neighbour's; a job that tries to reach
// the neighbour (a qualified read, SET ROLE) fails and is recorded failed.
func TestBatchJobIsScopedToItsTenant(t *testing.T) {
	t.Parallel()
	e := setup(t, 2, true)
	ctx := testContext(t)
	own, neighbour := e.tenants[0], e.tenants[1]
	e.asTenant(t, own, `CREATE TABLE accounts (id bigint PRIMARY KEY, name text);
		INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 3) g;
		CREATE TABLE ledger (id bigint); INSERT INTO ledger SELECT generate_series(1, 1200)`)
	e.asTenant(t, neighbour, `CREATE TABLE secrets (secret text); INSERT INTO secrets SELECT 'secret-' || g FROM generate_series(1, 5) g`)
	ns, _ := tenants.NamesFor(e.fleet, neighbour)

	var sawUser, sawRole string
	probe := Kind{Name: "reach-neighbour", Run: func(ctx context.Context, job Job) error {
		if tenants.PriorityFrom(ctx) != tenants.Batch {
			return errors.New("job context is not at batch priority")
		}
		var readErr, roleErr error
		err := job.WithTenant(ctx, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT session_user::text, current_user::text").Scan(&sawUser, &sawRole)
		})
		if err != nil {
			return err
		}
		readErr = job.WithTenant(ctx, func(ctx context.Context, tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{ns.Schema, "secrets"}.Sanitize()).Scan(&n)
		})
		roleErr = job.WithTenant(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SET ROLE "+pgx.Identifier{ns.Role}.Sanitize())
			return err
		})
		if readErr == nil || roleErr == nil {
			return nil // reached the neighbour: the test fails below
		}
		return errors.Join(readErr, roleErr)
	}}
	a := e.agent(t, ComplianceSnapshot(), probe)

	outcome, err := a.Run(ctx, queue.BatchRunPayload{Kind: ComplianceSnapshotKind, TenantID: own, Slot: testSlot})
	if err != nil || outcome != controlplane.BatchSucceeded {
		t.Fatalf("snapshot of %s: %s %v", own, outcome, err)
	}
	runs, err := e.store.ListBatchRuns(ctx, controlplane.BatchRunFilter{TenantID: own, Kind: ComplianceSnapshotKind})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of %s: %v %v", own, runs, err)
	}
	r := runs[0]
	if r.Outcome != controlplane.BatchSucceeded || r.FinishedAt == nil || r.FinishedAt.Before(r.StartedAt) || !r.Slot.Equal(testSlot) || r.Error != "" {
		t.Errorf("run recorded as %+v, want succeeded with start, end and slot %s", r, testSlot)
	}
	tables, err := e.store.ComplianceSnapshot(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tb := range tables {
		got[tb.Table] = tb.Rows
		if tb.SizeBytes <= 0 {
			t.Errorf("table %s size %d, want positive", tb.Table, tb.SizeBytes)
		}
	}
	if len(got) != 2 || got["accounts"] != 3 || got["ledger"] != 1200 {
		t.Errorf("snapshot of %s = %v, want exactly accounts=3 and ledger=1200 (nothing of %s)", own, got, neighbour)
	}

	outcome, err = a.Run(ctx, queue.BatchRunPayload{Kind: "reach-neighbour", TenantID: own, Slot: testSlot})
	own0, _ := tenants.NamesFor(e.fleet, own)
	if sawUser != own0.Role || sawRole != own0.Role {
		t.Errorf("job session is %s acting as %s, want the tenant's own login %s", sawUser, sawRole, own0.Role)
	}
	if err == nil || outcome != controlplane.BatchFailed || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("job reaching %s: %s %v, want failed with permission denied", neighbour, outcome, err)
	}
	runs, _ = e.store.ListBatchRuns(ctx, controlplane.BatchRunFilter{Kind: "reach-neighbour"})
	if len(runs) != 1 || runs[0].Outcome != controlplane.BatchFailed || !strings.Contains(runs[0].Error, "permission denied") {
		t.Errorf("failed run recorded as %+v, want failed with the error", runs)
	}

	// A retry of the same slot updates its row: one more attempt, no new row.
	if _, err := a.Run(ctx, queue.BatchRunPayload{Kind: ComplianceSnapshotKind, TenantID: own, Slot: testSlot}); err != nil {
		t.Fatal(err)
	}
	runs, _ = e.store.ListBatchRuns(ctx, controlplane.BatchRunFilter{TenantID: own, Kind: ComplianceSnapshotKind})
	if len(runs) != 1 || runs[0].Attempts != 2 || runs[0].ID != r.ID {
		t.Errorf("retried run: %+v, want one row with 2 attempts", runs)
	}
	if tables, _ := e.store.ComplianceSnapshot(ctx, r.ID); len(tables) != 2 {
		t.Errorf("retried snapshot holds %d tables, want the 2 of the latest reading", len(tables))
	}
}

// A tenant that planted a policy, a trigger, a rule and a lying IMMUTABLE
// function on its tables gains nothing from its compliance snapshot: the
// job's session is the tenant's own login, so RESET ROLE inside the trap
// leads back to the tenant, and the neighbour's rows stay out of reach.
func TestBatchJobGivesPlantedTrapNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, 2, true)
	ctx := testContext(t)
	attacker, victim := e.tenants[0], e.tenants[1]
	e.asTenant(t, attacker, `CREATE TABLE accounts (id bigint PRIMARY KEY, name text); INSERT INTO accounts VALUES (1, 'x'), (2, 'y')`)
	e.asTenant(t, victim, `CREATE TABLE secrets (id bigint, secret text); INSERT INTO secrets VALUES (1, 'victim-row')`)
	an, _ := tenants.NamesFor(e.fleet, attacker)
	vn, _ := tenants.NamesFor(e.fleet, victim)
	trap := cptest.PlantTenantTrap(t, e.admin, an.Schema, an.Role, [2]string{vn.Schema, "secrets"},
		cptest.TrapTable{Name: "accounts", Column: "id"})

	a := e.agent(t, ComplianceSnapshot())
	outcome, err := a.Run(ctx, queue.BatchRunPayload{Kind: ComplianceSnapshotKind, TenantID: attacker, Slot: testSlot})
	if err != nil || outcome != controlplane.BatchSucceeded {
		t.Fatalf("snapshot of %s: %s %v", attacker, outcome, err)
	}
	firings := trap.AssertGainedNothing(t, e.admin, true)
	for _, f := range firings {
		if f.Source != "policy" {
			t.Errorf("trap fired from %s; a snapshot only reads, so only the policy should run", f.Source)
		}
	}
}

// A run for a tenant that is no longer active is recorded as skipped and
// is no error; an unknown kind is refused without retry.
func TestBatchRunOfInactiveTenantIsSkipped(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, true)
	ctx := testContext(t)
	if _, err := e.catalog.SetTenantStatus(ctx, e.tenants[0], tenants.TenantOffboarding, "test"); err != nil {
		t.Fatal(err)
	}
	a := e.agent(t, ComplianceSnapshot())
	outcome, err := a.Run(ctx, queue.BatchRunPayload{Kind: ComplianceSnapshotKind, TenantID: e.tenants[0], Slot: testSlot})
	if err != nil || outcome != controlplane.BatchSkipped {
		t.Fatalf("run of an offboarding tenant: %s %v, want skipped", outcome, err)
	}
	if _, err := a.Run(ctx, queue.BatchRunPayload{Kind: "no-such-kind", TenantID: e.tenants[0], Slot: testSlot}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v, want ErrUnknownKind", err)
	}
}

// Through the queue: the schedule's task for a tenant's slot runs on a
// worker via the batch:run handler and its run is recorded.
func TestBatchRunTaskRunsOnWorker(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, true)
	ctx := testContext(t)
	e.asTenant(t, e.tenants[0], `CREATE TABLE notes (id bigint); INSERT INTO notes VALUES (1), (2)`)
	a := e.agent(t, ComplianceSnapshot())
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Concurrency: 2, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Queues: map[string]int{queue.QueueMaintenance: 1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a.Register(w)
	if !w.Handles(queue.TypeBatchRun) {
		t.Fatal("worker does not report the batch:run handler")
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	k := a.Kinds()[0]
	run := k.Timing.RunAt(e.tenants[0], k.Timing.PeriodStart(time.Now()))
	if n, err := a.enqueueDue(ctx, &kindSchedule{kind: k}, run); err != nil || n != 1 {
		t.Fatalf("enqueueDue at the tenant's run time: %d %v, want its one task", n, err)
	}
	var runs []controlplane.BatchRun
	waitFor(t, "the run to finish", func() bool {
		runs, err = e.store.ListBatchRuns(ctx, controlplane.BatchRunFilter{TenantID: e.tenants[0]})
		return err == nil && len(runs) == 1 && runs[0].Outcome != controlplane.BatchRunning
	})
	if runs[0].Outcome != controlplane.BatchSucceeded || !runs[0].Slot.Equal(run) {
		t.Fatalf("run %+v, want succeeded for slot %s", runs[0], run)
	}
	tables, err := e.store.ComplianceSnapshot(ctx, runs[0].ID)
	if err != nil || len(tables) != 1 || tables[0].Rows != 2 {
		t.Errorf("snapshot %+v %v, want notes with 2 rows", tables, err)
	}
}
