package migrate_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/loadfake"
	"github.com/tenantfleet/tenantfleet/queue"
)

// quiesce pauses the maintenance queue and waits until none of its tasks
// is running and every delayed one is due (pending), so the set of tasks in
// Redis holds still.
func (e *env) quiesce(t *testing.T, insp *asynq.Inspector) {
	t.Helper()
	if err := insp.PauseQueue(queue.QueueMaintenance); err != nil {
		t.Fatalf("PauseQueue: %v", err)
	}
	eventually.True(t, time.Minute, "no running or delayed tenant task", func() bool {
		qi, err := insp.GetQueueInfo(queue.QueueMaintenance)
		if err != nil {
			t.Fatalf("GetQueueInfo: %v", err)
		}
		return qi.Active == 0 && qi.Scheduled == 0 && qi.Retry == 0
	})
}

// pendingTenants lists the tenants of the maintenance queue's pending
// tasks, one entry per task.
func pendingTenants(t *testing.T, insp *asynq.Inspector) []string {
	t.Helper()
	tasks, err := insp.ListPendingTasks(queue.QueueMaintenance, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("ListPendingTasks: %v", err)
	}
	var out []string
	for _, ti := range tasks {
		p, err := queue.Decode[queue.MigratePayload](asynq.NewTask(ti.Type, ti.Payload))
		if err != nil {
			t.Fatalf("task %s: %v", ti.ID, err)
		}
		out = append(out, p.TenantID)
	}
	return out
}

// assertAppliedOnce checks that every tenant of inst is at version 3 and
// ran each of tracedSteps' migrations exactly once (each inserts a row).
func (e *env) assertAppliedOnce(t *testing.T, inst instance) {
	t.Helper()
	for _, tid := range inst.tenants {
		if got := e.version(t, inst, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
	applied := map[[2]any]int{}
	for _, s := range e.trace(t, inst) {
		applied[[2]any{s.Schema, s.Version}]++
	}
	if got, want := len(applied), 3*len(inst.tenants); got != want {
		t.Errorf("migrations applied: got %d, want %d", got, want)
	}
	for k, n := range applied {
		if n != 1 {
			t.Errorf("schema %s version %d applied %d times, want once", k[0], k[1], n)
		}
	}
}

// TestWipedRedisRunIsReconciled: a run paused by load loses every task to
// a FLUSHDB while its worker keeps running; nothing in Redis would ever
// run it again. The scheduled reconciler (a migrate:reconcile task every
// second, run by the same worker) enqueues its tenants again and the run
// completes, every migration applied once.
func TestWipedRedisRunIsReconciled(t *testing.T) {
	t.Parallel()
	src := loadfake.NewStatic(load.Reading{CPUPercent: 10})
	src.SetFor("ia", load.Reading{CPUPercent: 95})
	e := setup(t, options{fsys: tracedSteps, load: src})
	a := e.addInstance(t, "ia", 6, "", "", 0)
	e.createTrace(t, a)
	e.startWorker(t, e.runner, 4)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 2})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually.True(t, time.Minute, "every tenant paused on the busy instance", func() bool {
		st, err := e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Paused == 6
	})
	// No handler in flight at the wipe, so no hand-over after it can save
	// the run by chance.
	e.quiesce(t, insp)
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
	if got := pendingTenants(t, insp); len(got) != 0 {
		t.Fatalf("tasks after FLUSHDB: %v, want none", got)
	}
	if st, _ := e.runner.Progress(ctx, id); st.Status != migrate.RunRunning || st.Counts.Paused != 6 {
		t.Fatalf("after the wipe: got %s %+v, want running with 6 paused tenants", st.Status, st.Counts)
	}
	src.SetFor("ia", load.Reading{CPUPercent: 10})

	sched, err := queue.NewScheduler(queue.SchedulerConfig{Client: e.queue, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	if err := e.runner.RegisterSchedule(sched); err != nil {
		t.Fatalf("RegisterSchedule: %v", err)
	}
	if err := sched.Start(ctx); err != nil {
		t.Fatalf("scheduler Start: %v", err)
	}
	t.Cleanup(sched.Stop)

	st := e.wait(t, id)
	if st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Failed())
	}
	e.assertAppliedOnce(t, a)
}

// TestReconcileEnqueuesOnlyLostTasks: with every tenant's task in Redis,
// reconcilers running at once enqueue nothing; after one task is deleted
// and another archived, they enqueue exactly those two tenants again, one
// task each. A tenant row touched more recently than ReconcileMinAge is
// left alone.
func TestReconcileEnqueuesOnlyLostTasks(t *testing.T) {
	t.Parallel()
	src := loadfake.NewStatic(load.Reading{CPUPercent: 95})
	e := setup(t, options{fsys: tracedSteps, load: src})
	a := e.addInstance(t, "ia", 4, "", "", 0)
	e.createTrace(t, a)
	e.startWorker(t, e.runner, 4)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually.True(t, time.Minute, "every tenant paused", func() bool {
		st, err := e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Paused == 4
	})
	e.quiesce(t, insp)
	assertOneTaskEach := func(when string) {
		t.Helper()
		got := map[string]int{}
		for _, tid := range pendingTenants(t, insp) {
			got[tid]++
		}
		for _, tid := range a.tenants {
			if got[tid] != 1 {
				t.Errorf("%s: tenant %s has %d pending tasks, want 1 (all: %v)", when, tid, got[tid], got)
			}
		}
	}
	assertOneTaskEach("before reconciling")

	reconcileAtOnce := func(r *migrate.Runner, n int) int {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range n {
			wg.Go(func() {
				k, err := r.Reconcile(ctx)
				if err != nil {
					t.Errorf("Reconcile: %v", err)
				}
				mu.Lock()
				total += k
				mu.Unlock()
			})
		}
		wg.Wait()
		return total
	}
	if n := reconcileAtOnce(e.runner, 3); n != 0 {
		t.Errorf("reconcile with every task present: enqueued %d, want 0", n)
	}
	assertOneTaskEach("after reconciling with every task present")

	tasks, err := insp.ListPendingTasks(queue.QueueMaintenance)
	if err != nil || len(tasks) != 4 {
		t.Fatalf("ListPendingTasks: %d tasks, %v", len(tasks), err)
	}
	if err := insp.DeleteTask(queue.QueueMaintenance, tasks[0].ID); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if err := insp.ArchiveTask(queue.QueueMaintenance, tasks[1].ID); err != nil {
		t.Fatalf("ArchiveTask: %v", err)
	}
	patient := e.newRunner(t, options{load: src, reconcileMinAge: time.Hour})
	if n, err := patient.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("reconcile with a min age of an hour: enqueued %d, %v; want 0", n, err)
	}
	if n := reconcileAtOnce(e.runner, 3); n != 2 {
		t.Errorf("reconcile after losing two tasks: enqueued %d, want 2", n)
	}
	assertOneTaskEach("after reconciling two lost tasks")
	if n := reconcileAtOnce(e.runner, 2); n != 0 {
		t.Errorf("second reconcile: enqueued %d, want 0", n)
	}

	src.Set(load.Reading{CPUPercent: 10})
	if err := insp.UnpauseQueue(queue.QueueMaintenance); err != nil {
		t.Fatalf("UnpauseQueue: %v", err)
	}
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Failed())
	}
	e.assertAppliedOnce(t, a)
}

// TestReconcileClosesFinishedRuns: a run whose last task died before it
// closed the run (every tenant finished, the run still running) is closed;
// a canary run whose last canary died before the verdict is promoted and
// its other tenants migrated.
func TestReconcileClosesFinishedRuns(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	a := e.addInstance(t, "ia", 3, "", "", 0)
	e.startWorker(t, e.runner, 3)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	e.wait(t, id)
	if _, err := e.cp.Exec(ctx, `UPDATE migration_runs SET status = 'running', finished_at = NULL WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if st, _ := e.runner.Progress(ctx, id); st.Status != migrate.RunSucceeded || st.FinishedAt == nil {
		t.Errorf("finished run after reconcile: got %s (finished at %v), want succeeded", st.Status, st.FinishedAt)
	}

	// The canary (the first tenant) succeeded, its task died before the
	// verdict: the run is in its canary phase with no canary unfinished,
	// the two others never enqueued (nothing of theirs in Redis).
	canary, err := e.runner.Start(ctx, migrate.Spec{Canary: 1})
	if err != nil {
		t.Fatalf("Start canary: %v", err)
	}
	e.wait(t, canary)
	if _, err := e.cp.Exec(ctx, `UPDATE migration_runs SET status = 'running', phase = 'canary', finished_at = NULL WHERE id = $1;`, canary); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cp.Exec(ctx, `UPDATE migration_run_tenants SET status = 'pending', attempts = 0, finished_at = NULL
		WHERE run_id = $1 AND NOT canary`, canary); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
	if _, err := e.runner.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	st := e.wait(t, canary)
	if st.Status != migrate.RunSucceeded || st.Phase != "main" {
		t.Fatalf("canary run after reconcile: got %s phase %s, want succeeded in main", st.Status, st.Phase)
	}
	for _, tr := range st.Tenants {
		if !tr.Canary && tr.Attempts != 1 {
			t.Errorf("tenant %s: %d attempts after promotion, want 1", tr.TenantID, tr.Attempts)
		}
	}
	for _, tid := range a.tenants {
		if got := e.version(t, a, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
}
