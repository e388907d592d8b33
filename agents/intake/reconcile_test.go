package intake

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
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
