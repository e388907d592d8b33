package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// TypeReconcile is the task type of one reconciler pass.
const TypeReconcile = "migrate:reconcile"

// ReconcileEntry names the reconciler's scheduler entry.
const ReconcileEntry = "migrate-reconcile"

// Reconcile repairs the running runs from the control plane, for when Redis
// lost their tasks (a wipe, a failover to a replica that was behind, a task
// archived after its retries): every pending, paused or running tenant
// whose row is untouched for ReconcileMinAge and whose task chain is gone
// from Redis gets a new task, and a run none of whose tenants is
// unfinished is closed (or, in its canary phase, promoted or stopped). It
// returns how many tenants it enqueued.
//
// A tenant whose chain head is still in Redis (pending, scheduled, running
// or retrying) is left alone, and a new chain takes the head with a
// compare-and-set before its task is enqueued, so any number of
// reconcilers may run at once and a pass right after another adds nothing.
// A tenant that is migrated by two tasks anyway (a task of the old chain
// was running when the head was lost) is migrated once: the migrator's
// per-tenant advisory lock and version table make the second a no-op.
func (r *Runner) Reconcile(ctx context.Context) (int, error) {
	runs, err := r.store.RunningMigrationRuns(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: reconcile: %w", err)
	}
	// One suffix per pass for the chains it starts: fresh ids, never a
	// retained task's.
	pass := ":c" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	total := 0
	var errs []error
	for _, run := range runs {
		n, err := r.reconcileRun(ctx, run.ID, run.Phase, pass)
		total += n
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return total, errors.Join(errs...)
}

// settledTenant is an unfinished tenant as the reconciler reads it;
// Settled means untouched for ReconcileMinAge.
type settledTenant = controlplane.UnfinishedMigrationTenant

// reconcileRun reconciles one running run, in pages of ReconcileBatch
// tenants.
func (r *Runner) reconcileRun(ctx context.Context, runID int64, phase controlplane.MigrationPhase, pass string) (int, error) {
	enqueued, open, after := 0, 0, 0
	for {
		page, err := r.store.UnfinishedMigrationTenantPage(ctx, controlplane.UnfinishedTenantPage{RunID: runID,
			CanaryOnly: phase == phaseCanary, SettledAfter: r.cfg.ReconcileMinAge, AfterOrdinal: after,
			Limit: r.cfg.ReconcileBatch})
		if err != nil {
			return enqueued, fmt.Errorf("migrate: reconcile run %d: %w", runID, err)
		}
		open += len(page)
		n, err := r.revivePage(ctx, runID, page, pass)
		enqueued += n
		if err != nil {
			return enqueued, err
		}
		if len(page) < r.cfg.ReconcileBatch {
			break
		}
		after = page[len(page)-1].Ordinal
	}
	if enqueued > 0 {
		r.log.InfoContext(ctx, "migration run reconciled", slog.Int64("run", runID), slog.Int("re_enqueued", enqueued))
	}
	if open == 0 {
		return 0, r.settle(ctx, runID, phase)
	}
	return enqueued, nil
}

// revivePage gives a new task to every settled tenant of page whose chain
// is gone.
func (r *Runner) revivePage(ctx context.Context, runID int64, page []settledTenant, pass string) (int, error) {
	var settled []settledTenant
	var ids []string
	for _, t := range page {
		if t.Settled {
			settled = append(settled, t)
			ids = append(ids, t.TenantID)
		}
	}
	if len(settled) == 0 {
		return 0, nil
	}
	heads, err := r.chains.heads(ctx, runID, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, t := range settled {
		ok, err := r.revive(ctx, runID, t, heads[i], pass)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// revive gives the tenant a new task if its chain head is gone from Redis,
// and reports whether it enqueued one:
//
//   - no head (Redis wiped, or a chain older than the heads): a new chain
//     with the pass's suffix takes the tenant, if no chain took it since;
//   - a head whose task is missing: that very task is enqueued again (a
//     hand-over enqueueing it at the same time collapses with it);
//   - a head whose task completed or was archived without finishing the
//     tenant: its follow-up is enqueued, as the task would have;
//   - a head whose task waits, runs or retries: nothing to do.
func (r *Runner) revive(ctx context.Context, runID int64, t settledTenant, head, pass string) (bool, error) {
	next, from := taskID(runID, t.TenantID, t.Round, 0)+pass, ""
	if head != "" {
		info, err := r.inspector.GetTaskInfo(r.cfg.QueueName, head)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
			next, from = head, head
		case err != nil:
			return false, fmt.Errorf("migrate: run %d tenant %s: read task %s: %w", runID, t.TenantID, head, err)
		case info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived:
			next, from = nextHop(head), head
		default:
			return false, nil
		}
	}
	ok, err := r.chains.claim(ctx, runID, t.TenantID, next, from)
	if err != nil || !ok {
		return false, err
	}
	res, err := r.enqueue(ctx, runID, t.TenantID, next, 0)
	if err != nil || res.Duplicate {
		return false, err
	}
	r.log.DebugContext(ctx, "tenant task re-enqueued", slog.Int64("run", runID), slog.String("tenant", t.TenantID),
		slog.String("task_id", next), slog.String("lost_head", head))
	return true, nil
}

// reconcilePass is the reconciler as a periodic task.
func (r *Runner) reconcilePass() queue.Pass {
	return queue.Pass{Entry: ReconcileEntry, Type: TypeReconcile, Queue: r.cfg.ReconcileQueue,
		Every: r.cfg.ReconcileEvery, Run: r.Reconcile, Did: "migration runs reconciled"}
}

// RegisterSchedule adds the reconciler to s: a migrate:reconcile task
// every ReconcileEvery on ReconcileQueue, enqueued once per slot however
// many schedulers run. A worker runs it through the handler Register
// mounts.
func (r *Runner) RegisterSchedule(s *queue.Scheduler) error { return r.reconcilePass().Schedule(s) }
