package intake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/queue"
)

func TestReconcileAfterRedisWipe(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	var want []string
	for i := range 5 {
		acc, err := e.in.Submit(ctx, Request{TenantID: fmt.Sprintf("tenant-%d", i)})
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		want = append(want, acc.TaskID)
	}
	finished, err := e.in.Submit(ctx, Request{TenantID: "finished"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := e.in.MarkDone(ctx, finished.RequestID); err != nil {
		t.Fatalf("MarkDone: %v", err)
	}

	// While the tasks are on the queue, a pass adds nothing.
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("Reconcile before wipe: got %d, %v; want 0", n, err)
	}
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flushdb: %v", err)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != len(want) {
		t.Fatalf("Reconcile after wipe: got %d, %v; want %d", n, err, len(want))
	}
	got := e.criticalTasks(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("critical queue: got %v, want %v (no task for the finished request)", got, want)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("second Reconcile: got %d, %v; want 0", n, err)
	}
	if got := len(e.criticalTasks(t)); got != len(want) {
		t.Errorf("tasks after second pass: got %d, want %d", got, len(want))
	}
	var attempts []int
	rows, _ := e.db.Query(ctx, "SELECT attempts FROM intake_requests WHERE status = 'enqueued' ORDER BY id")
	for rows.Next() {
		var a int
		_ = rows.Scan(&a)
		attempts = append(attempts, a)
	}
	if want := []int{2, 2, 2, 2, 2}; !slices.Equal(attempts, want) {
		t.Errorf("attempts: got %v, want %v", attempts, want)
	}
}

// TestReconcileConcurrent runs several reconcilers at once after a wipe:
// each request is enqueued exactly once between them.
func TestReconcileConcurrent(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.ReconcileBatch = 3 })
	ctx := t.Context()
	const requests = 10
	for i := range requests {
		if _, err := e.in.Submit(ctx, Request{TenantID: fmt.Sprintf("tenant-%d", i)}); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flushdb: %v", err)
	}
	counts := make(chan int, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			n, err := e.in.Reconcile(ctx)
			counts <- n
			errs <- err
		}()
	}
	total := 0
	for range 4 {
		total += <-counts
		if err := <-errs; err != nil {
			t.Errorf("Reconcile: %v", err)
		}
	}
	if total != requests {
		t.Errorf("re-enqueued in total: got %d, want %d", total, requests)
	}
	if got := len(e.criticalTasks(t)); got != requests {
		t.Errorf("tasks: got %d, want %d", got, requests)
	}
}

func TestReconcileMinAge(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.ReconcileMinAge = time.Hour })
	ctx := t.Context()
	if _, err := e.in.Submit(ctx, Request{TenantID: "fresh"}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	_ = e.rdb.FlushDB(ctx).Err()
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("fresh request: got %d, %v; want 0", n, err)
	}
	if _, err := e.db.Exec(ctx, "UPDATE intake_requests SET updated_at = now() - interval '2 hours'"); err != nil {
		t.Fatalf("age: %v", err)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 1 {
		t.Errorf("old request: got %d, %v; want 1", n, err)
	}
}

// TestReconcileSchedule runs the registered schedule and handler on a real
// scheduler and worker: the task comes round and re-enqueues a lost
// request.
func TestReconcileSchedule(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.ReconcileEvery = time.Second })
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "scheduled"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	_ = e.rdb.FlushDB(ctx).Err()

	qc := queue.NewClient(e.rdb)
	sched, err := queue.NewScheduler(queue.SchedulerConfig{Client: qc, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	if err := e.in.RegisterSchedule(sched); err != nil {
		t.Fatalf("RegisterSchedule: %v", err)
	}
	if err := sched.Start(ctx); err != nil {
		t.Fatalf("scheduler start: %v", err)
	}
	t.Cleanup(sched.Stop)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Logger: cptest.DiscardLogger(), Queues: map[string]int{queue.QueueCritical: 1}})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	e.in.RegisterHandlers(w)
	if err := w.Start(ctx); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(w.Stop)

	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		// The worker may run the onboarding task at once (it has no
		// handler here), so watch the outbox, not the queue.
		rec, err := e.in.Get(ctx, acc.RequestID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if rec.Attempts == 2 {
			return
		}
		select {
		case <-deadline.Done():
			t.Fatalf("task %s not re-enqueued by the scheduled reconciler", acc.TaskID)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestReconcileFailsArchivedRequest: a request whose task Redis archived
// (a worker killed on the last attempt) is failed with the reason, visibly,
// and no longer blocks its tenant.
func TestReconcileFailsArchivedRequest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "stuck-co", RequestedBy: "ada"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := e.insp.ArchiveTask(queue.QueueCritical, acc.TaskID); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("Reconcile: got %d, %v; want 0 re-enqueued", n, err)
	}
	rec, err := e.in.Get(ctx, acc.RequestID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if rec.Status != StatusFailed || !strings.Contains(rec.Error, "archived") || rec.FinishedAt == nil {
		t.Fatalf("request: got %s %q, want failed with a reason naming the archived task", rec.Status, rec.Error)
	}
	if got := e.auditOutcomes(t)["failed"]; got != 1 {
		t.Errorf("failed audit entries: got %d, want 1", got)
	}
	again, err := e.in.Submit(ctx, Request{TenantID: "stuck-co"})
	if err != nil {
		t.Fatalf("Submit again: %v", err)
	}
	if again.Duplicate || again.RequestID == acc.RequestID {
		t.Errorf("new request for the tenant: got %+v, want a new request, not a duplicate of the stuck one", again)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("second pass: got %d, %v; want 0", n, err)
	}
}

// TestReconcileAbandonHook: the reconciler hands an archived request to
// the function set with OnAbandoned; an error leaves it for the next pass.
func TestReconcileAbandonHook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "hooked"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := e.insp.ArchiveTask(queue.QueueCritical, acc.TaskID); err != nil {
		t.Fatalf("archive: %v", err)
	}
	var got []string
	e.in.OnAbandoned(func(_ context.Context, rec Record, reason string) error {
		got = append(got, reason)
		if len(got) == 1 {
			return errors.New("tenant busy")
		}
		return e.in.MarkFailed(ctx, rec.ID, "hook: "+reason)
	})
	if _, err := e.in.Reconcile(ctx); err == nil || !strings.Contains(err.Error(), "tenant busy") {
		t.Fatalf("first pass: got %v, want the hook's error", err)
	}
	if rec, _ := e.in.Get(ctx, acc.RequestID); rec.Status != StatusEnqueued {
		t.Fatalf("after a failed hook: got %s, want still enqueued", rec.Status)
	}
	if _, err := e.in.Reconcile(ctx); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	rec, _ := e.in.Get(ctx, acc.RequestID)
	if rec.Status != StatusFailed || !strings.HasPrefix(rec.Error, "hook: onboarding task "+acc.TaskID+" archived") {
		t.Errorf("request: got %s %q, want failed by the hook", rec.Status, rec.Error)
	}
	if len(got) != 2 {
		t.Errorf("hook calls: got %d, want 2", len(got))
	}
}

// TestReconcileReenqueuesLostTaskUnderNextAttempt: a task that completed
// without finishing its request keeps its id in Redis for a day, so the
// reconciler moves the request to its next attempt and enqueues that.
func TestReconcileReenqueuesLostTaskUnderNextAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "lost-co"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	// A handler that returns without finishing the request.
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Logger: cptest.DiscardLogger(), Queues: map[string]int{queue.QueueCritical: 1}})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	w.HandleFunc(queue.TypeTenantOnboard, func(context.Context, *asynq.Task) error { return nil })
	if err := w.Start(ctx); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(w.Stop)
	qc := queue.NewClient(e.rdb)
	t.Cleanup(func() { _ = qc.Close() })
	eventually.True(t, 30*time.Second, "task completed", func() bool {
		info, err := qc.Lookup(ctx, queue.QueueCritical, acc.TaskID)
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	w.Stop()

	if n, err := e.in.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("Reconcile: got %d, %v; want 1", n, err)
	}
	rec, _ := e.in.Get(ctx, acc.RequestID)
	want := queue.OnboardAttemptTaskID(acc.RequestID, 2)
	if rec.Status != StatusEnqueued || rec.TaskAttempt != 2 || TaskID(rec) != want || rec.Attempts != 2 {
		t.Fatalf("request: got %s attempt %d task %s attempts %d, want enqueued attempt 2 task %s attempts 2",
			rec.Status, rec.TaskAttempt, TaskID(rec), rec.Attempts, want)
	}
	if got := e.criticalTasks(t); !slices.Equal(got, []string{want}) {
		t.Errorf("critical queue: got %v, want [%s]", got, want)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("second pass: got %d, %v; want 0", n, err)
	}
}

// A task whose worker died stays active in Redis until Asynq's recoverer
// finds it, a minute or two later. The reconciler sees it orphaned (its
// lease expired) and hands the request to its next attempt at once; a
// task still held by a live worker is left alone.
func TestReconcileHandsOrphanedTaskToNextAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "orphan-co"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	release := make(chan struct{})
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Logger: cptest.DiscardLogger(), Queues: map[string]int{queue.QueueCritical: 1}})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	w.HandleFunc(queue.TypeTenantOnboard, func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := w.Start(ctx); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(func() { close(release); w.Stop() })
	qc := queue.NewClient(e.rdb)
	t.Cleanup(func() { _ = qc.Close() })
	eventually.True(t, 30*time.Second, "task active", func() bool {
		info, err := qc.Lookup(ctx, queue.QueueCritical, acc.TaskID)
		return err == nil && info.State == asynq.TaskStateActive
	})
	if n, err := e.in.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("Reconcile while a live worker holds the task: got %d, %v; want 0", n, err)
	}
	// The worker "dies": its lease on the task runs out (what a SIGKILL
	// leaves in Redis, without waiting the 30 s).
	if err := e.rdb.ZAdd(ctx, "asynq:{"+queue.QueueCritical+"}:lease",
		redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: acc.TaskID}).Err(); err != nil {
		t.Fatal(err)
	}
	if info, err := qc.Lookup(ctx, queue.QueueCritical, acc.TaskID); err != nil || !info.Orphaned {
		t.Fatalf("Lookup after the lease ran out: %+v, %v; want orphaned", info, err)
	}
	if n, err := e.in.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("Reconcile with an orphaned task: got %d, %v; want 1", n, err)
	}
	rec, _ := e.in.Get(ctx, acc.RequestID)
	want := queue.OnboardAttemptTaskID(acc.RequestID, 2)
	if rec.TaskAttempt != 2 || TaskID(rec) != want {
		t.Fatalf("request: got attempt %d task %s, want attempt 2 task %s", rec.TaskAttempt, TaskID(rec), want)
	}
	if _, err := qc.Lookup(ctx, queue.QueueCritical, want); err != nil {
		t.Fatalf("next attempt %s not on the queue: %v", want, err)
	}
}
