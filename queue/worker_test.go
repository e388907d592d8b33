package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testPayload struct {
	N int `json:"n"`
}

func (p testPayload) Validate() error {
	if p.N < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}

func enqueueTest(t *testing.T, c *Client, id string) {
	t.Helper()
	task, err := NewTask("test:block", testPayload{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(context.Background(), task, asynq.TaskID(id), asynq.Queue(QueueDefault), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerStopFinishesInFlightTask: a task that finishes within the
// shutdown timeout completes during Stop.
func TestWorkerStopFinishesInFlightTask(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	started := make(chan struct{})
	var finished atomic.Bool
	w, err := NewWorker(WorkerConfig{Redis: rdb, ShutdownTimeout: 10 * time.Second, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("test:block", func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
		return nil
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	enqueueTest(t, client, "finish-1")
	<-started
	w.Stop()
	if !finished.Load() {
		t.Fatal("Stop returned before the in-flight task finished")
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	info, err := insp.GetQueueInfo(QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if info.Processed != 1 || info.Pending != 0 || info.Active != 0 {
		t.Fatalf("queue after stop: processed %d pending %d active %d, want 1/0/0", info.Processed, info.Pending, info.Active)
	}
	w.Stop() // idempotent
}

// TestWorkerStopReturnsUnfinishedTask: a task still running when the
// shutdown timeout passes goes back to its queue, and a new worker runs it.
func TestWorkerStopReturnsUnfinishedTask(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	started := make(chan struct{}, 1)
	w, err := NewWorker(WorkerConfig{Redis: rdb, ShutdownTimeout: 200 * time.Millisecond, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("test:block", func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		<-ctx.Done() // never finishes on its own
		return ctx.Err()
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	enqueueTest(t, client, "requeue-1")
	<-started
	w.Stop()

	insp := asynq.NewInspectorFromRedisClient(rdb)
	ti, err := insp.GetTaskInfo(QueueDefault, "requeue-1")
	if err != nil {
		t.Fatalf("task lost after stop: %v", err)
	}
	if ti.State != asynq.TaskStatePending && ti.State != asynq.TaskStateRetry {
		t.Fatalf("task state after stop = %v, want pending or retry (back in the queue)", ti.State)
	}

	var ran atomic.Bool
	w2, err := NewWorker(WorkerConfig{Redis: rdb, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w2.HandleFunc("test:block", func(context.Context, *asynq.Task) error { ran.Store(true); return nil })
	if ti.State == asynq.TaskStateRetry {
		if err := insp.RunTask(QueueDefault, "requeue-1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	eventually.True(t, 10*time.Second, "the returned task to run on a new worker", ran.Load)
}

func TestMiddlewareRecoversPanicAndSkipsBadPayload(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	metrics := NewTaskMetrics()
	w, err := NewWorker(WorkerConfig{Redis: rdb, Logger: cptest.DiscardLogger(), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("test:panic", func(context.Context, *asynq.Task) error { panic("boom") })
	w.HandleFunc("test:decode", func(_ context.Context, task *asynq.Task) error {
		_, err := Decode[testPayload](task)
		return err
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	if _, err := client.Enqueue(ctx, asynq.NewTask("test:panic", nil), asynq.MaxRetry(0), asynq.TaskID("p1")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(ctx, asynq.NewTask("test:decode", []byte(`{"n":-5}`)), asynq.MaxRetry(5), asynq.TaskID("d1")); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, id := range []string{"p1", "d1"} {
		eventually.True(t, 10*time.Second, id+" archived", func() bool {
			ti, err := insp.GetTaskInfo(QueueDefault, id)
			return err == nil && ti.State == asynq.TaskStateArchived
		})
	}
	ti, _ := insp.GetTaskInfo(QueueDefault, "d1")
	if ti.Retried != 0 {
		t.Errorf("bad payload was retried %d times, want 0 (SkipRetry)", ti.Retried)
	}
}

func TestClientDuplicateTaskID(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	task, err := NewTask("test:dup", testPayload{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, err := client.Enqueue(context.Background(), task, asynq.TaskID("same"), asynq.Queue(QueueCritical))
	if err != nil || first.Duplicate {
		t.Fatalf("first enqueue: %+v, %v", first, err)
	}
	second, err := client.Enqueue(context.Background(), task, asynq.TaskID("same"), asynq.Queue(QueueCritical))
	if err != nil {
		t.Fatalf("second enqueue: %v", err)
	}
	if !second.Duplicate || second.ID != "same" || second.Queue != QueueCritical {
		t.Fatalf("second enqueue = %+v, want a duplicate of id same on critical", second)
	}
	if _, err := NewTask("test:dup", testPayload{N: -1}); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("NewTask with invalid payload: %v, want ErrBadPayload", err)
	}
}

// TestWorkerAnnouncesQueuesAfterWipe: the queue names come back in Asynq's
// queue set after Redis is flushed, so dashboards and metrics see them.
func TestWorkerAnnouncesQueuesAfterWipe(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	w, err := NewWorker(WorkerConfig{Redis: rdb, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	eventually.True(t, 5*time.Second, "queues announced", func() bool {
		qs, _ := insp.Queues()
		return len(qs) == len(Weights())
	})
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 2*queueRegisterInterval, "queues announced again after the wipe", func() bool {
		qs, _ := insp.Queues()
		return len(qs) == len(Weights())
	})
}

// TestNotReadyKeepsRetryBudget: a task that waits (NotReady) more times than
// its retry budget still runs to success, because waiting is not a failure.
func TestNotReadyKeepsRetryBudget(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	var runs atomic.Int32
	w, err := NewWorker(WorkerConfig{Redis: rdb, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("test:wait", func(ctx context.Context, _ *asynq.Task) error {
		if runs.Add(1) < 4 {
			return NotReady(10*time.Millisecond, errors.New("instance still creating"))
		}
		return nil
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := client.Enqueue(context.Background(), asynq.NewTask("test:wait", nil), asynq.MaxRetry(1), asynq.TaskID("w1"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	eventually.True(t, 20*time.Second, "the waiting task to complete", func() bool {
		ti, err := insp.GetTaskInfo(QueueDefault, "w1")
		return err == nil && ti.State == asynq.TaskStateCompleted
	})
	ti, _ := insp.GetTaskInfo(QueueDefault, "w1")
	if runs.Load() != 4 || ti.Retried != 0 {
		t.Fatalf("runs %d retried %d, want 4 runs with 0 counted retries", runs.Load(), ti.Retried)
	}
}
