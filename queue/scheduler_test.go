package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
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
	newSched := func() *Scheduler {
		s, err := NewScheduler(SchedulerConfig{Client: client, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Enqueue("@every 1s", "health-sweep", func(time.Time) (*asynq.Task, []asynq.Option, error) {
			builds.Add(1)
			return asynq.NewTask(TypeHealthSweep, nil), []asynq.Option{asynq.Queue(QueueDefault)}, nil
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
	waitFor(t, 10*time.Second, "both schedulers to fire for three slots", func() bool { return builds.Load() >= 6 })
	a.Stop()
	b.Stop()
	a.Stop() // idempotent

	insp := asynq.NewInspectorFromRedisClient(rdb)
	tasks, err := insp.ListPendingTasks(QueueDefault, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	slots := map[string]int{}
	for _, ti := range tasks {
		slots[ti.ID]++
	}
	if got := int(builds.Load()); len(tasks) > got/2+1 || len(tasks) < got/2-1 {
		t.Fatalf("%d builds produced %d tasks, want about one task per slot (%d)", got, len(tasks), got/2)
	}
	for id, n := range slots {
		if n != 1 {
			t.Errorf("slot %s has %d tasks, want 1", id, n)
		}
	}
}
