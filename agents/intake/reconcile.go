package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/queue"
)

// ReconcileEntry names the reconciler's scheduler entry.
const ReconcileEntry = "intake-reconcile"

// Reconcile makes sure every unfinished request (pending or enqueued,
// untouched for ReconcileMinAge) has a live task, and returns how many tasks
// it put on the queue. For each request it enqueues the current task again:
//
//   - the id is free (Redis lost the task): the task is back on the queue;
//   - the task is pending, active, scheduled or retrying: nothing to do (the
//     enqueue collapses into it);
//   - the task is archived (a worker was killed on its last attempt, or
//     failing the request failed): the request is abandoned, which marks it
//     failed with the reason (see OnAbandoned);
//   - the task completed without finishing the request (lost): the request
//     moves to its next task attempt and that task is enqueued.
//
// Any number of reconcilers may run at once: the task ids and the attempt
// counter arbitrate, and a second pass right after a first adds nothing.
// A request that cannot be settled is logged and left for the next pass;
// the pass stops at the first request Redis cannot be asked about (down).
func (in *Intake) Reconcile(ctx context.Context) (int, error) {
	return in.outbox.Reconcile(ctx, in.reconcile, func(rec Record, err error) bool {
		var qErr *queueError
		if errors.As(err, &qErr) {
			return false
		}
		in.log.WarnContext(ctx, "outbox: request not settled, next pass retries",
			slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID), slog.Any("error", err))
		return true
	})
}

// queueError marks a reconcile step that could not reach Redis: the pass
// stops there.
type queueError struct{ err error }

func (e *queueError) Error() string { return e.err.Error() }
func (e *queueError) Unwrap() error { return e.err }

// reconcile settles one unfinished request and reports whether it put a
// task on the queue.
func (in *Intake) reconcile(ctx context.Context, rec Record) (bool, error) {
	log := in.log.With(slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID))
	res, err := in.outbox.EnqueueAs(ctx, rec, TaskID(rec))
	if err != nil {
		return false, &queueError{fmt.Errorf("intake: reconcile request %d: %w", rec.ID, err)}
	}
	if !res.Duplicate {
		log.InfoContext(ctx, "onboarding re-enqueued", slog.String("task_id", res.ID))
		return true, in.outbox.MarkEnqueued(ctx, rec.ID, false)
	}
	task, err := in.cfg.Queue.Lookup(ctx, queue.QueueCritical, TaskID(rec))
	if errors.Is(err, queue.ErrTaskNotFound) {
		return false, nil // gone since the enqueue: the next pass enqueues it
	}
	if err != nil {
		return false, &queueError{fmt.Errorf("intake: reconcile request %d: %w", rec.ID, err)}
	}
	switch {
	case task.State == asynq.TaskStateArchived:
		reason := fmt.Sprintf("onboarding task %s archived after %d failed runs: %s",
			task.ID, task.Retried, cmp.Or(task.LastErr, "no error recorded"))
		log.WarnContext(ctx, "onboarding task archived without finishing its request; failing it",
			slog.String("task_id", task.ID), slog.String("reason", reason))
		if err := in.abandon(ctx, rec, reason); err != nil {
			return false, fmt.Errorf("intake: fail abandoned request %d: %w", rec.ID, err)
		}
		return false, nil
	case task.State == asynq.TaskStateCompleted || task.Orphaned:
		// Completed without finishing the request, or orphaned by a dead
		// worker (Asynq would hand it back only a minute or two later):
		// the next attempt takes over. The tenant's lease keeps the two
		// from running at once, and the old task, when Asynq runs it
		// again, is no longer the request's and finds it done or busy.
		next, ok, err := in.nextAttempt(ctx, rec)
		if err != nil || !ok {
			return false, err // !ok: another reconciler moved it, or it finished
		}
		log.WarnContext(ctx, "onboarding task ended or orphaned without finishing its request; enqueued a new attempt",
			slog.String("lost_task_id", task.ID), slog.String("state", task.State.String()),
			slog.Bool("orphaned", task.Orphaned), slog.String("task_id", TaskID(next)))
		if _, err := in.outbox.EnqueueAs(ctx, next, TaskID(next)); err != nil {
			// Stored as the current attempt: the next pass enqueues it.
			return false, &queueError{fmt.Errorf("intake: reconcile request %d: %w", rec.ID, err)}
		}
		return true, in.outbox.MarkEnqueued(ctx, rec.ID, false)
	default:
		// In flight. A pending request whose enqueue was not recorded
		// learns it is on the queue.
		if rec.Status == StatusPending {
			return false, in.outbox.MarkEnqueued(ctx, rec.ID, true)
		}
		return false, nil
	}
}

// nextAttempt moves rec to its next task attempt; false when rec changed
// meanwhile.
func (in *Intake) nextAttempt(ctx context.Context, rec Record) (Record, bool, error) {
	next, ok, err := in.store.NextIntakeAttempt(ctx, rec.ID, rec.TaskAttempt)
	if err != nil {
		return Record{}, false, fmt.Errorf("intake: next attempt of request %d: %w", rec.ID, err)
	}
	return next, ok, nil
}

// AbandonFunc settles a request whose task Redis archived while the
// request was unfinished (a worker killed on the task's last attempt, or
// failing the request failed). It must mark the request failed with reason
// (MarkFailed), and may undo what the request's work left behind. Leaving
// the request unfinished (returning nil when it cannot settle it yet, an
// error when something broke) leaves it for the next reconciler pass.
type AbandonFunc = func(ctx context.Context, rec Record, reason string) error

// OnAbandoned sets what the reconciler does with an abandoned request. The
// default marks the request failed; the provisioning agent sets its own
// when it is built, so the tenant is marked failed too and the alert
// raised. Safe to call at any time.
func (in *Intake) OnAbandoned(f AbandonFunc) { in.abandonFn.Store(&f) }

func (in *Intake) abandon(ctx context.Context, rec Record, reason string) error {
	if f := in.abandonFn.Load(); f != nil && *f != nil {
		return (*f)(ctx, rec, reason)
	}
	return in.MarkFailed(ctx, rec.ID, reason)
}

// reconcilePass is the reconciler as a periodic task.
func (in *Intake) reconcilePass() queue.Pass {
	return in.outbox.Pass(ReconcileEntry, queue.TypeOutboxReconcile, "outbox reconciled", in.Reconcile)
}

// RegisterSchedule adds the reconciler to s: an outbox:reconcile task every
// ReconcileEvery, enqueued once per slot however many schedulers run. A
// worker runs it through the handler registered by RegisterHandlers.
func (in *Intake) RegisterSchedule(s *queue.Scheduler) error { return in.reconcilePass().Schedule(s) }

// RegisterHandlers registers the outbox:reconcile handler on w.
func (in *Intake) RegisterHandlers(w *queue.Worker) { in.reconcilePass().Register(w) }
