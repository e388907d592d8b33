package offboard

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// An offboarding task orphaned by a dead worker (active in Redis, its
// lease run out) gets one rescue task at once, instead of waiting a minute
// or two for Asynq's recoverer; a task held by a live worker, and a rescue
// still on its way, are left alone.
func TestReconcileRescuesOrphanedTask(t *testing.T) {
	e := setup(t)
	e.tenant(t, "acme", tenants.TenantActive)
	release := make(chan struct{})
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Logger: cptest.DiscardLogger(), Queues: map[string]int{queue.QueueCritical: 1}, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc(queue.TypeTenantOffboard, func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); w.Stop() })
	acc, err := e.out.Submit(e.ctx, Request{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := e.out.Get(e.ctx, acc.RequestID)
	qc := queue.NewClient(e.rdb)
	t.Cleanup(func() { _ = qc.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := qc.Lookup(e.ctx, queue.QueueCritical, TaskID(rec.ID))
		if err == nil && info.State == asynq.TaskStateActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task never active: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := e.out.Reconcile(e.ctx); err != nil || n != 0 {
		t.Fatalf("reconcile while a live worker holds the task: %d, %v; want 0", n, err)
	}
	// The worker dies: its lease on the task runs out.
	if err := e.rdb.ZAdd(e.ctx, "asynq:{"+queue.QueueCritical+"}:lease",
		redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: TaskID(rec.ID)}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.out.Reconcile(e.ctx); err != nil || n != 1 {
		t.Fatalf("reconcile with an orphaned task: %d, %v; want 1", n, err)
	}
	after, _ := e.out.Get(e.ctx, acc.RequestID)
	rescue := rescueID(rec, rec.Attempts)
	if info, err := qc.Lookup(e.ctx, queue.QueueCritical, rescue); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("rescue %s: %+v, %v; want pending (the only worker slot is taken)", rescue, info, err)
	}
	if after.Attempts != rec.Attempts+1 {
		t.Errorf("enqueues: %d, want %d", after.Attempts, rec.Attempts+1)
	}
	// The orphan is still there, but its rescue is on its way: nothing more.
	if n, err := e.out.Reconcile(e.ctx); err != nil || n != 0 {
		t.Fatalf("reconcile with the rescue pending: %d, %v; want 0", n, err)
	}
}
