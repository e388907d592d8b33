package offboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/queue"
)

// ReconcileEntry names the reconciler's scheduler entry.
const ReconcileEntry = "offboard-reconcile"

// AlertOffboardFailed is the alert attribute of the ERROR log line written
// when an offboarding or purge fails for good.
const AlertOffboardFailed = "tenant_offboard_failed"

// Reconcile re-enqueues every unfinished request (pending or enqueued)
// untouched for ReconcileMinAge, because Redis may have lost its task, and
// returns how many tasks it put back on the queue. A task still on the
// queue (or retained after it ran) keeps its deterministic id, so the
// enqueue collapses and is not counted: any number of reconcilers may run
// at once. A request whose task is there but ended without recording an
// outcome (archived: a worker killed, or a panic, on its last attempt) is
// marked failed, so no request stays unfinished for good.
func (o *Outbox) Reconcile(ctx context.Context) (int, error) {
	return o.outbox.Reconcile(ctx, func(ctx context.Context, rec Record) (bool, error) {
		requeued, err := o.reconcileOne(ctx, rec)
		if err != nil {
			return requeued, fmt.Errorf("offboard: reconcile request %d: %w", rec.ID, err)
		}
		return requeued, nil
	}, func(Record, error) bool { return false })
}

// reconcileOne enqueues rec's task again and reports whether that put a
// new task on the queue.
func (o *Outbox) reconcileOne(ctx context.Context, rec Record) (bool, error) {
	res, err := o.outbox.EnqueueAs(ctx, rec, TaskID(rec.ID))
	if err != nil {
		return false, err
	}
	if !res.Duplicate {
		o.log.InfoContext(ctx, "offboarding re-enqueued", slog.Int64("request_id", rec.ID),
			slog.String("tenant", rec.TenantID), slog.String("action", string(rec.Action)), slog.String("task_id", res.ID))
		return true, o.outbox.MarkEnqueued(ctx, rec.ID, false)
	}
	if task, err := o.cfg.Queue.Lookup(ctx, res.Queue, res.ID); err == nil && task.Orphaned {
		// Its worker died: Asynq would hand the task back only a minute
		// or two later. A rescue task does the (idempotent) work now; its
		// id follows the request's enqueue count, so racing reconcilers
		// enqueue one, and the orphan, when Asynq runs it again, finds
		// the request finished.
		if prev, err := o.cfg.Queue.Lookup(ctx, res.Queue, rescueID(rec, rec.Attempts-1)); err == nil &&
			prev.State != asynq.TaskStateCompleted && prev.State != asynq.TaskStateArchived && !prev.Orphaned {
			return false, nil // the last rescue is still on its way
		}
		rescue, err := o.outbox.EnqueueAs(ctx, rec, rescueID(rec, rec.Attempts))
		if err != nil || rescue.Duplicate {
			return false, err
		}
		o.log.WarnContext(ctx, "offboarding task orphaned by a dead worker; enqueued a rescue",
			slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID),
			slog.String("orphan_task_id", res.ID), slog.String("task_id", rescue.ID))
		return true, o.outbox.MarkEnqueued(ctx, rec.ID, false)
	}
	if ended, lastErr := o.endedWithoutOutcome(ctx, res); ended {
		reason := "its task ended without an outcome after its last attempt"
		if lastErr != "" {
			reason += ": " + lastErr
		}
		o.log.ErrorContext(ctx, "tenant offboarding failed", slog.String("alert", AlertOffboardFailed),
			slog.String("tenant", rec.TenantID), slog.Int64("request_id", rec.ID),
			slog.String("action", string(rec.Action)), slog.String("reason", reason))
		return false, MarkFailed(ctx, o.cfg.DB, rec.ID, reason)
	}
	if rec.Status == StatusPending {
		return false, o.outbox.MarkEnqueued(ctx, rec.ID, true)
	}
	return false, nil
}

// rescueID is the task id of the rescue of rec's n-th enqueue.
func rescueID(rec Record, n int) string { return TaskID(rec.ID) + ":rescue:" + strconv.Itoa(n) }

// endedWithoutOutcome reports whether the task res collided with is
// archived or completed, which for an unfinished request means it will
// never run again, and its last error.
func (o *Outbox) endedWithoutOutcome(ctx context.Context, res queue.Enqueued) (bool, string) {
	if o.inspector == nil {
		return false, ""
	}
	info, err := o.inspector.GetTaskInfo(res.Queue, res.ID)
	if err != nil {
		if !errors.Is(err, asynq.ErrTaskNotFound) {
			o.log.WarnContext(ctx, "offboard: inspect task", slog.String("task_id", res.ID), slog.Any("error", err))
		}
		return false, ""
	}
	switch info.State {
	case asynq.TaskStateArchived, asynq.TaskStateCompleted:
		return true, info.LastErr
	}
	return false, ""
}

// reconcilePass is the reconciler as a periodic task.
func (o *Outbox) reconcilePass() queue.Pass {
	return o.outbox.Pass(ReconcileEntry, queue.TypeOffboardReconcile, "offboardings reconciled", o.Reconcile)
}

// RegisterSchedule adds the reconciler to s: an offboard:reconcile task
// every ReconcileEvery, enqueued once per slot however many schedulers run.
// A worker runs it through the handler registered by RegisterHandlers.
func (o *Outbox) RegisterSchedule(s *queue.Scheduler) error { return o.reconcilePass().Schedule(s) }

// RegisterHandlers registers the offboard:reconcile handler on w.
func (o *Outbox) RegisterHandlers(w *queue.Worker) { o.reconcilePass().Register(w) }
