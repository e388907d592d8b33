package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/tenantfleet/tenantfleet/agents/scheduler"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Two scheduler replicas running the fleet's plan against one Redis, with
// one-second intervals: every slot yields exactly one health:sweep per
// ready instance and one pool:watch, each with its deterministic id; the
// cost analysis, whose handler this fleet lacks, is not enqueued at all.
func TestTwinSchedulersEnqueueEachPeriodicTaskOnce(t *testing.T) {
	t.Parallel()
	_, cp := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	client := queue.NewClient(rdb)
	defer client.Close()
	catalog := controlplane.NewStore(cp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, status := range []provider.Status{provider.StatusReady, provider.StatusReady, provider.StatusReady, provider.StatusCreating} {
		if _, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: fmt.Sprintf("inst-%d", i),
			Status: status, Host: "127.0.0.1", Port: 5432, Database: "db"}, Provider: "local", Tier: tenants.Shared}); err != nil {
			t.Fatal(err)
		}
	}
	handles := func(typ string) bool { return typ != queue.TypeCostAnalyze }
	newSched := func() *queue.Scheduler {
		s, err := queue.NewScheduler(queue.SchedulerConfig{Client: client, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := scheduler.Register(s, scheduler.Config{Instances: catalog, HealthInterval: time.Second,
			PoolWatchInterval: time.Second, CostSchedule: "* * * * *", Handles: handles, Logger: cptest.DiscardLogger()}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := newSched(), newSched()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer insp.Close()
	// Wait for several one-second slots of both replicas.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tasks, _ := insp.ListPendingTasks(queue.QueueDefault, asynq.PageSize(1000))
		if len(tasks) >= 4*4 || time.Now().After(deadline) {
			break
		}
	}
	a.Stop()
	b.Stop()
	tasks, err := insp.ListPendingTasks(queue.QueueDefault, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	sweeps := map[time.Time]map[string]bool{} // slot -> instances
	watches := map[time.Time]int{}
	for _, ti := range tasks {
		switch ti.Type {
		case queue.TypeHealthSweep:
			p, err := queue.Decode[queue.HealthSweepPayload](asynq.NewTask(ti.Type, ti.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if want := queue.PeriodicTaskID(scheduler.EntryHealthSweep, p.InstanceID, p.Slot); ti.ID != want {
				t.Errorf("sweep task id %s, want %s", ti.ID, want)
			}
			if sweeps[p.Slot] == nil {
				sweeps[p.Slot] = map[string]bool{}
			}
			if sweeps[p.Slot][p.InstanceID] {
				t.Errorf("two sweeps of %s for slot %s", p.InstanceID, p.Slot)
			}
			sweeps[p.Slot][p.InstanceID] = true
		case queue.TypePoolWatch:
			p, err := queue.Decode[queue.PoolWatchPayload](asynq.NewTask(ti.Type, ti.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if want := queue.SlotTaskID(scheduler.EntryPoolWatch, p.Slot); ti.ID != want {
				t.Errorf("pool watch task id %s, want %s", ti.ID, want)
			}
			watches[p.Slot]++
		default:
			t.Errorf("unexpected task %s (%s)", ti.ID, ti.Type)
		}
	}
	if len(sweeps) < 3 || len(watches) < 3 {
		t.Fatalf("%d sweep slots and %d watch slots, want at least 3 of each", len(sweeps), len(watches))
	}
	var latest time.Time
	for slot := range sweeps {
		if slot.After(latest) {
			latest = slot
		}
	}
	for slot, insts := range sweeps {
		if len(insts) != 3 || insts["inst-3"] {
			t.Errorf("slot %s swept %v, want inst-0..2 once each (inst-3 is not ready)", slot, insts)
		}
		// The latest slot's pool watch may not have fired when the
		// replicas stopped; every earlier slot has exactly one.
		if n := watches[slot]; n > 1 || (n == 0 && slot.Before(latest)) {
			t.Errorf("slot %s has %d pool watches, want 1", slot, n)
		}
	}
	if low, err := insp.ListPendingTasks(queue.QueueLow); err == nil && len(low) > 0 {
		t.Errorf("%d cost:analyze tasks enqueued without a handler", len(low))
	} else if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	for _, e := range a.Entries(time.Now()) {
		if e.Name == scheduler.EntryCostAnalyze && !strings.Contains(e.Note, "no handler") {
			t.Errorf("cost entry note %q, want it to say there is no handler", e.Note)
		}
		if e.Name == scheduler.EntryHealthSweep && (e.Note != "" || time.Until(e.Next) > time.Second) {
			t.Errorf("health entry %+v, want no note and a next run within a second", e)
		}
	}
}

func TestRegisterRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, rdb := cptest.RedisDB(t)
	client := queue.NewClient(rdb)
	defer client.Close()
	s, err := queue.NewScheduler(queue.SchedulerConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	always := func(string) bool { return true }
	for name, cfg := range map[string]scheduler.Config{
		"no instances":       {Handles: always},
		"sub-second health":  {Instances: controlplane.NewStore(nil), Handles: always, HealthInterval: 500 * time.Millisecond},
		"bad cost schedule":  {Instances: controlplane.NewStore(nil), Handles: always, CostSchedule: "every day"},
		"sub-second watcher": {Instances: controlplane.NewStore(nil), Handles: always, PoolWatchInterval: time.Millisecond},
	} {
		if err := scheduler.Register(s, cfg); err == nil {
			t.Errorf("%s: Register succeeded, want an error", name)
		}
	}
}
