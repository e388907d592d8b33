package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/queue"
)

// RegisterSchedule adds one entry per kind to s, firing every slot length
// (aligned to UTC). Each firing enqueues a batch:run task for every active
// tenant whose run time fell since the previous firing; the first firing
// of a process (Start's catch-up) covers the whole current period so far,
// so runs a stopped scheduler missed are enqueued late rather than lost.
// Every task's id is PeriodicTaskID("batch:<kind>", tenant, run time),
// kept for a period, so a twin scheduler or a restart re-enqueueing a run
// that was already enqueued adds nothing.
func (a *Agent) RegisterSchedule(s *queue.Scheduler) error {
	if a.cfg.Queue == nil {
		return errors.New("batch: scheduling needs a Queue")
	}
	for _, name := range a.order {
		ks := &kindSchedule{kind: a.kinds[name]}
		spec := "@every " + ks.kind.Timing.SlotLength().String()
		if err := s.Func(spec, entryName(name), func(ctx context.Context, slot time.Time) error {
			n, err := a.enqueueDue(ctx, ks, slot)
			if n > 0 {
				a.cfg.Logger.InfoContext(ctx, "batch runs enqueued", slog.String("kind", name), slog.Int("tenants", n), slog.Time("slot", slot))
			}
			return err
		}); err != nil {
			return fmt.Errorf("batch: schedule %s: %w", name, err)
		}
	}
	return nil
}

// kindSchedule is what one scheduler process has enqueued of a kind.
type kindSchedule struct {
	kind Kind
	mu   sync.Mutex
	// covered is the end of the span already enqueued; zero before the
	// first firing.
	covered time.Time
}

// enqueueDue enqueues the runs of ks whose time is in (covered, upTo] and
// moves covered to upTo when every enqueue went through, so a failed
// enqueue is tried again on the next firing. It returns how many tasks
// were new.
func (a *Agent) enqueueDue(ctx context.Context, ks *kindSchedule, upTo time.Time) (int, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	t := ks.kind.Timing
	upTo = upTo.UTC()
	from := ks.covered
	// Catch up the current period only: a scheduler down for longer does
	// not replay older periods.
	if periodStart := t.PeriodStart(upTo); from.Before(periodStart) {
		from = periodStart.Add(-time.Nanosecond)
	}
	if !upTo.After(from) {
		return 0, nil
	}
	if !t.windowOverlaps(from, upTo) {
		ks.covered = upTo
		return 0, nil
	}
	ids, err := a.activeTenants(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	fresh := 0
	for _, id := range ids {
		for _, run := range t.runsBetween(id, from, upTo) {
			dup, err := a.enqueueRun(ctx, ks.kind, id, run, replayAt(t, id, run, upTo))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !dup {
				fresh++
			}
		}
	}
	if len(errs) == 0 {
		ks.covered = upTo
	}
	return fresh, errors.Join(errs...)
}

// windowOverlaps reports whether any run time (a period start plus a slot
// offset) can fall in (from, to].
func (t Timing) windowOverlaps(from, to time.Time) bool {
	for ps := t.PeriodStart(from); !ps.After(to); ps = ps.Add(t.Period) {
		last := ps.Add(t.Window - t.SlotLength())
		if last.After(from) && !ps.After(to) {
			return true
		}
	}
	return false
}

// replayAt is when a run enqueued at upTo should be processed: now for a
// run whose time is this slot, but a run caught up late (its slot passed
// while no scheduler ran) keeps its stagger: it is processed at upTo plus
// its slot's offset, so a catch-up never starts every missed tenant at
// once. Zero means now.
func replayAt(t Timing, tenantID string, run, upTo time.Time) time.Time {
	if !run.Before(upTo.Add(-t.SlotLength())) {
		return time.Time{}
	}
	return upTo.Add(time.Duration(Slot(tenantID)) * t.SlotLength())
}

// RunTaskID is the task id of a kind's run for a tenant at run.
func RunTaskID(kind, tenantID string, run time.Time) string {
	return queue.PeriodicTaskID(entryName(kind), tenantID, run)
}

// enqueueRun enqueues one run; dup reports that its task already existed.
func (a *Agent) enqueueRun(ctx context.Context, k Kind, tenantID string, run, processAt time.Time) (dup bool, err error) {
	task, err := queue.NewTask(queue.TypeBatchRun, queue.BatchRunPayload{Kind: k.Name, TenantID: tenantID, Slot: run})
	if err != nil {
		return false, err
	}
	opts := []asynq.Option{
		asynq.Queue(queue.QueueMaintenance),
		asynq.TaskID(RunTaskID(k.Name, tenantID, run)),
		asynq.Retention(k.Timing.Period),
		asynq.Timeout(k.Timeout),
		asynq.MaxRetry(k.MaxRetry),
	}
	if !processAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(processAt))
	}
	res, err := a.cfg.Queue.Enqueue(ctx, task, opts...)
	if err != nil {
		return false, err
	}
	return res.Duplicate, nil
}
