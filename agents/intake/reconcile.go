package intake

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/queue"
)

// ReconcileEntry names the reconciler's scheduler entry.
const ReconcileEntry = "intake-reconcile"

// Reconcile re-enqueues every unfinished request (pending or enqueued)
// untouched for ReconcileMinAge, because Redis may have lost its task. It
// returns how many tasks it put back on the queue. A task still on the
// queue (or retained after it ran) keeps its deterministic id, so the
// enqueue collapses and is not counted: any number of reconcilers may run
// at once, and a second pass right after a first adds nothing.
func (in *Intake) Reconcile(ctx context.Context) (int, error) {
	minAge := in.cfg.ReconcileMinAge.Seconds()
	var n int
	var after int64
	for {
		recs, err := in.unfinished(ctx, minAge, after)
		if err != nil {
			return n, err
		}
		for _, rec := range recs {
			after = rec.ID
			res, err := in.enqueueTask(ctx, rec)
			if err != nil {
				return n, fmt.Errorf("intake: reconcile request %d: %w", rec.ID, err)
			}
			q := markEnqueuedSQL
			if res.Duplicate {
				if rec.Status == StatusEnqueued {
					continue
				}
				q = markSeenSQL
			} else {
				n++
				in.log.InfoContext(ctx, "onboarding re-enqueued", slog.Int64("request_id", rec.ID),
					slog.String("tenant", rec.TenantID), slog.String("task_id", res.ID))
			}
			if _, err := in.cfg.DB.Exec(ctx, q, rec.ID); err != nil {
				return n, fmt.Errorf("intake: reconcile request %d: %w", rec.ID, err)
			}
		}
		if len(recs) < in.cfg.ReconcileBatch {
			return n, nil
		}
	}
}

func (in *Intake) unfinished(ctx context.Context, minAgeSecs float64, after int64) ([]Record, error) {
	rows, err := in.cfg.DB.Query(ctx, unfinishedSQL, minAgeSecs, after, in.cfg.ReconcileBatch)
	if err != nil {
		return nil, fmt.Errorf("intake: list unfinished requests: %w", err)
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("intake: list unfinished requests: %w", err)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("intake: list unfinished requests: %w", err)
	}
	return recs, nil
}

// RegisterSchedule adds the reconciler to s: an outbox:reconcile task every
// ReconcileEvery, enqueued once per slot however many schedulers run. A
// worker runs it through the handler registered by RegisterHandlers.
func (in *Intake) RegisterSchedule(s *queue.Scheduler) error {
	spec := "@every " + in.cfg.ReconcileEvery.String()
	err := s.Enqueue(spec, ReconcileEntry, func(time.Time) (*asynq.Task, []asynq.Option, error) {
		return asynq.NewTask(queue.TypeOutboxReconcile, nil), []asynq.Option{
			asynq.Queue(queue.QueueCritical),
			asynq.MaxRetry(0),
			asynq.Timeout(in.cfg.ReconcileEvery),
		}, nil
	})
	if err != nil {
		return fmt.Errorf("intake: schedule reconciler: %w", err)
	}
	return nil
}

// RegisterHandlers registers the outbox:reconcile handler on w.
func (in *Intake) RegisterHandlers(w *queue.Worker) {
	w.HandleFunc(queue.TypeOutboxReconcile, in.processReconcile)
}

// processReconcile runs one reconciler pass as a task.
func (in *Intake) processReconcile(ctx context.Context, _ *asynq.Task) error {
	n, err := in.Reconcile(ctx)
	if n > 0 {
		queue.Logger(ctx).InfoContext(ctx, "outbox reconciled", slog.Int("re_enqueued", n))
	}
	return err
}
