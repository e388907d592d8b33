package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

func TestParseScheduleAlignsEvery(t *testing.T) {
	t.Parallel()
	s, err := ParseSchedule("@every 60s")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 10, 0, 42, 0, time.UTC)
	if got, want := s.Next(at), time.Date(2026, 1, 1, 10, 1, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", at, got, want)
	}
	for _, bad := range []string{"@every 10ms", "@every soon", "61 * * * *", "nonsense"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded, want an error", bad)
		}
	}
}

// TestTwinSchedulersEnqueueOnce runs two schedulers with the same entry:
// each slot yields exactly one task.
func TestTwinSchedulersEnqueueOnce(t *testing.T) {
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	var builds atomic.Int32
	var mu sync.Mutex
	slotsBuilt := map[string]bool{}
	newSched := func() *Scheduler {
		s, err := NewScheduler(SchedulerConfig{Client: client, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Enqueue("@every 1s", "health-sweep", func(slot time.Time) (*asynq.Task, []asynq.Option, error) {
			mu.Lock()
			slotsBuilt[SlotTaskID("health-sweep", slot)] = true
			mu.Unlock()
			builds.Add(1)
			return asynq.NewTask(TypeOutboxReconcile, nil), []asynq.Option{asynq.Queue(QueueDefault)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := newSched(), newSched()
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "both schedulers to fire for three slots", func() bool { return builds.Load() >= 6 })
	a.Stop()
	b.Stop()
	a.Stop() // idempotent

	insp := asynq.NewInspectorFromRedisClient(rdb)
	tasks, err := insp.ListPendingTasks(QueueDefault, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	// Both schedulers built a task for every slot; each slot is one task.
	mu.Lock()
	defer mu.Unlock()
	if len(tasks) != len(slotsBuilt) || int(builds.Load()) <= len(slotsBuilt) {
		t.Fatalf("%d builds for %d slots produced %d tasks, want one task per slot and more builds than slots",
			builds.Load(), len(slotsBuilt), len(tasks))
	}
	for _, ti := range tasks {
		if !slotsBuilt[ti.ID] {
			t.Errorf("task %s is not the id of a slot that was built", ti.ID)
		}
	}
}
