package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
)

// queuedRuns returns the batch:run tasks on the maintenance queue, pending
// or scheduled for later, by id, failing on a second task for one tenant
// within one period.
func queuedRuns(t *testing.T, e *env, timing Timing) map[string]queue.BatchRunPayload {
	t.Helper()
	tasks := listRuns(t, e, false)
	out := map[string]queue.BatchRunPayload{}
	perPeriod := map[string]string{}
	for _, ti := range append(tasks, listRuns(t, e, true)...) {
		p, err := queue.Decode[queue.BatchRunPayload](asynq.NewTask(ti.Type, ti.Payload))
		if err != nil {
			t.Fatalf("task %s: %v", ti.ID, err)
		}
		if want := RunTaskID(p.Kind, p.TenantID, p.Slot); ti.ID != want {
			t.Errorf("task id %s, want the deterministic %s", ti.ID, want)
		}
		key := p.Kind + "/" + p.TenantID + "/" + timing.PeriodStart(p.Slot).String()
		if other, dup := perPeriod[key]; dup {
			t.Errorf("tenant %s has two %s tasks in one period: %s and %s", p.TenantID, p.Kind, other, ti.ID)
		}
		perPeriod[key] = ti.ID
		out[ti.ID] = p
	}
	return out
}

// dueBy lists the task ids of the tenants whose run in the period of upTo
// is at or before upTo.
// listRuns lists the maintenance queue's pending or scheduled tasks.
func listRuns(t *testing.T, e *env, scheduled bool) []*asynq.TaskInfo {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	list := insp.ListPendingTasks
	if scheduled {
		list = insp.ListScheduledTasks
	}
	tasks, err := list(queue.QueueMaintenance, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func dueBy(e *env, k Kind, upTo time.Time) map[string]bool {
	due := map[string]bool{}
	for _, id := range e.tenants {
		if run := k.Timing.RunAt(id, k.Timing.PeriodStart(upTo)); !run.After(upTo) {
			due[RunTaskID(k.Name, id, run)] = true
		}
	}
	return due
}

func noop(context.Context, Job) error { return nil }

// Two schedulers firing the same slots (twin replicas) enqueue each
// tenant's run once; a scheduler restarted mid-window catches up the runs
// it missed since the period began, and adds nothing for runs already
// enqueued.
func TestBatchScheduleTwinsAndRestartEnqueueEachRunOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 40, false)
	ctx := testContext(t)
	a := e.agent(t, Kind{Name: "hourly-job", Run: noop})
	b := e.agent(t, Kind{Name: "hourly-job", Run: noop})
	kind := a.Kinds()[0]
	// A period in the future, so runs replayed later are scheduled (Asynq
	// makes a task due at once when its time has passed).
	period := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)

	// Twins: both fire every minute up to minute 12, concurrently.
	ka, kb := &kindSchedule{kind: kind}, &kindSchedule{kind: kind}
	var wg sync.WaitGroup
	fresh := make([]int, 2)
	for i, pair := range []struct {
		ag *Agent
		ks *kindSchedule
	}{{a, ka}, {b, kb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range 13 {
				n, err := pair.ag.enqueueDue(ctx, pair.ks, period.Add(time.Duration(m)*time.Minute))
				if err != nil {
					t.Errorf("enqueueDue: %v", err)
				}
				fresh[i] += n
			}
		}()
	}
	wg.Wait()
	upTo := period.Add(12 * time.Minute)
	want := dueBy(e, kind, upTo)
	got := queuedRuns(t, e, kind.Timing)
	if len(got) != len(want) || fresh[0]+fresh[1] != len(want) {
		t.Fatalf("twins enqueued %d tasks (%d+%d new), want the %d runs due by minute 12", len(got), fresh[0], fresh[1], len(want))
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("run %s due by minute 12 was not enqueued", id)
		}
	}

	// The scheduler is down from minute 12 and restarts at minute 25: its
	// first firing (Start's catch-up) covers the period so far.
	restarted := &kindSchedule{kind: kind}
	at := period.Add(25*time.Minute + 30*time.Second)
	n, err := a.enqueueDue(ctx, restarted, at)
	if err != nil {
		t.Fatal(err)
	}
	want = dueBy(e, kind, at)
	got = queuedRuns(t, e, kind.Timing)
	missed := len(want) - len(dueBy(e, kind, upTo))
	if len(got) != len(want) || n != missed {
		t.Fatalf("after the restart: %d tasks (%d new), want %d runs due by minute 25 (%d of them missed)", len(got), n, len(want), missed)
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("run %s missed while the scheduler was down was not caught up", id)
		}
	}
	// The runs caught up late keep their stagger: they are scheduled at
	// the restart plus their slot offset, not all at once; the run of the
	// current slot is due now.
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	defer insp.Close()
	for id, p := range got {
		info, err := insp.GetTaskInfo(queue.QueueMaintenance, id)
		if err != nil {
			t.Fatal(err)
		}
		late := p.Slot.Before(at.Add(-time.Minute)) && p.Slot.After(upTo)
		switch want := at.Add(time.Duration(Slot(p.TenantID)) * time.Minute); {
		case late && (info.State != asynq.TaskStateScheduled || !info.NextProcessAt.Equal(want)):
			t.Errorf("late run %s: %s at %s, want scheduled at %s", id, info.State, info.NextProcessAt, want)
		case !late && p.Slot.After(upTo) && info.State != asynq.TaskStatePending:
			t.Errorf("run %s of the current slot is %s, want pending", id, info.State)
		}
	}
	// Firing again for the same slot, and the same catch-up once more,
	// adds nothing.
	for _, ks := range []*kindSchedule{restarted, {kind: kind}} {
		if n, err := a.enqueueDue(ctx, ks, at); err != nil || n != 0 {
			t.Errorf("repeat firing: %d new, %v; want none", n, err)
		}
	}
	// Past the window nothing more is due until the next period, whose
	// runs start afresh.
	if n, _ := a.enqueueDue(ctx, restarted, period.Add(59*time.Minute)); n != len(e.tenants)-len(want) {
		t.Errorf("through minute 59: %d new, want the %d runs of minutes 26-29", n, len(e.tenants)-len(want))
	}
	if n, _ := a.enqueueDue(ctx, restarted, period.Add(time.Hour+29*time.Minute)); n != len(e.tenants) {
		t.Errorf("next period: %d new, want one per tenant (%d)", n, len(e.tenants))
	}
	queuedRuns(t, e, kind.Timing) // still one task per tenant and period
}

// Through real queue.Schedulers: two replicas started at once enqueue one
// task per due run, and a replica restarted within the period adds none.
func TestBatchScheduleThroughTwinSchedulers(t *testing.T) {
	t.Parallel()
	e := setup(t, 30, false)
	ctx := testContext(t)
	kind := Kind{Name: "minutely-job", Timing: Timing{Period: time.Hour, Window: 30 * time.Minute}, Run: noop}
	start := func() *queue.Scheduler {
		s, err := queue.NewScheduler(queue.SchedulerConfig{Client: e.queue, Logger: cptest.DiscardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.agent(t, kind).RegisterSchedule(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	k, _ := kind.withDefaults()
	before := time.Now()
	s1, s2 := start(), start()
	wantAtLeast := dueBy(e, k, before)
	waitFor(t, "the catch-up of both schedulers", func() bool { return len(queuedRuns(t, e, k.Timing)) >= len(wantAtLeast) })
	s1.Stop()
	s2.Stop()
	s3 := start() // a restart within the period
	s3.Stop()
	after := time.Now()
	got := queuedRuns(t, e, k.Timing)
	for id := range wantAtLeast {
		if _, ok := got[id]; !ok {
			t.Errorf("run %s was due at start but not enqueued", id)
		}
	}
	// Nothing beyond what was due by the end, when the test stayed within
	// one period (it runs in well under a minute).
	if k.Timing.PeriodStart(before).Equal(k.Timing.PeriodStart(after)) {
		due := dueBy(e, k, after)
		for id := range got {
			if !due[id] {
				t.Errorf("task %s is not a run due by the end of the test", id)
			}
		}
	}
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
