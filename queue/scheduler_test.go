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

func TestCurrentSlot(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 8, 10, 17, 42, 0, time.UTC)
	for spec, want := range map[string]time.Time{
		"@every 10s":  time.Date(2026, 3, 8, 10, 17, 40, 0, time.UTC),
		"@every 1h":   time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC),
		"0 2 * * *":   time.Date(2026, 3, 8, 2, 0, 0, 0, time.UTC),
		"30 11 * * *": time.Date(2026, 3, 7, 11, 30, 0, 0, time.UTC), // yesterday's
		"@hourly":     time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC),
	} {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := CurrentSlot(s, now); !got.Equal(want) {
			t.Errorf("CurrentSlot(%q, %s) = %s, want %s", spec, now, got, want)
		}
	}
}

// A scheduler restarted within a slot catches the slot up on Start, and
// the slot's task id makes that catch-up add nothing when the slot's task
// was enqueued already: each slot is one task across the restart.
func TestRestartedSchedulerCatchesUpWithoutDoubling(t *testing.T) {
	t.Parallel()
	_, rdb := cptest.RedisDB(t)
	client := NewClient(rdb)
	defer client.Close()
	ctx := context.Background()
	run := func() {
		s, err := NewScheduler(SchedulerConfig{Client: client, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		err = s.EnqueueEach("@every 1h", "hourly", func(_ context.Context, slot time.Time) ([]SubjectTask, error) {
			var out []SubjectTask
			for _, subject := range []string{"inst-a", "inst-b"} {
				out = append(out, SubjectTask{Subject: subject, Task: asynq.NewTask(TypeHealthSweep, []byte(subject)),
					Opts: []asynq.Option{asynq.Queue(QueueDefault)}})
			}
			return out, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		s.Stop() // waits for the catch-up
	}
	before := time.Now().UTC().Truncate(time.Hour)
	run() // the first scheduler: its catch-up enqueues the current hour
	run() // restarted within the hour
	run()
	after := time.Now().UTC().Truncate(time.Hour)

	insp := asynq.NewInspectorFromRedisClient(rdb)
	tasks, err := insp.ListPendingTasks(QueueDefault, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, slot := range []time.Time{before, after} {
		for _, subject := range []string{"inst-a", "inst-b"} {
			want[PeriodicTaskID("hourly", subject, slot)] = true
		}
	}
	if len(tasks) != len(want) {
		t.Fatalf("%d tasks after three starts, want %d (one per subject and slot)", len(tasks), len(want))
	}
	for _, ti := range tasks {
		if !want[ti.ID] {
			t.Errorf("unexpected task id %s", ti.ID)
		}
	}
	if id := PeriodicTaskID("hourly", "inst-a", before); id != "hourly:inst-a@"+before.Format(time.RFC3339) {
		t.Errorf("task id %s does not name kind, subject and UTC slot", id)
	}
}
