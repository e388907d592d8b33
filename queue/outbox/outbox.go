// Package outbox is the mechanism the fleet's outboxes share (the intake
// of onboardings, agents/intake, and of offboardings, agents/offboard): a
// request is stored in a control-plane table (controlplane.Store) before
// its task is enqueued under a deterministic id, the enqueue is recorded on
// the row, and a reconciler on the scheduler pages through the unfinished
// rows so a wiped Redis or a crash between the commit and the enqueue loses
// none. What differs (the payload, how a lost task is settled) is the
// agent's.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Row is a stored request of an outbox table (controlplane.IntakeRequest,
// controlplane.OffboardRequest).
type Row interface {
	RequestID() int64
	RequestStatus() controlplane.OutboxStatus
}

// Table is an outbox table, as controlplane.Store's methods offer it.
type Table[R Row] struct {
	// Get reads one row; a missing one is an error the agent knows.
	Get func(ctx context.Context, id int64) (R, error)
	// MarkEnqueued records an enqueue (controlplane.Store.MarkIntakeEnqueued).
	MarkEnqueued func(ctx context.Context, id int64, alreadyQueued bool) (controlplane.OutboxStatus, bool, error)
	// Unfinished pages through the unfinished rows by id.
	Unfinished func(ctx context.Context, p controlplane.UnfinishedPage) ([]R, error)
}

// Spec says what one outbox is made of.
type Spec[R Row] struct {
	// Name prefixes errors ("intake", "offboard").
	Name string
	// Noun names the work in logs ("onboarding", "offboarding").
	Noun string
	// Queue enqueues the tasks.
	Queue *queue.Client
	// Table holds the requests.
	Table Table[R]
	// Task builds a request's task (type and payload).
	Task func(rec R) (*asynq.Task, error)
}

// Outbox enqueues the tasks of an outbox table's rows and follows them. It
// is safe for concurrent use.
type Outbox[R Row] struct {
	cfg  Config
	spec Spec[R]
}

// New returns the outbox of spec; cfg has its defaults filled.
func New[R Row](cfg Config, spec Spec[R]) *Outbox[R] { return &Outbox[R]{cfg: cfg, spec: spec} }

// EnqueueAs puts rec's task on the critical queue under task id id, with
// the retry budget and queue.DefaultRetention. It records nothing.
func (o *Outbox[R]) EnqueueAs(ctx context.Context, rec R, id string) (queue.Enqueued, error) {
	task, err := o.spec.Task(rec)
	if err != nil {
		return queue.Enqueued{}, err
	}
	return o.spec.Queue.Enqueue(ctx, task,
		asynq.TaskID(id),
		asynq.Queue(queue.QueueCritical),
		asynq.MaxRetry(o.cfg.MaxRetry),
		asynq.Retention(queue.DefaultRetention))
}

// Enqueue puts rec's task on the queue under task id id and records it on
// the row. It returns the row's status afterwards.
func (o *Outbox[R]) Enqueue(ctx context.Context, rec R, id string) (controlplane.OutboxStatus, error) {
	res, err := o.EnqueueAs(ctx, rec, id)
	if err != nil {
		return rec.RequestStatus(), err
	}
	status, changed, err := o.spec.Table.MarkEnqueued(ctx, rec.RequestID(), res.Duplicate)
	switch {
	case err != nil:
		return rec.RequestStatus(), fmt.Errorf("%s: mark request %d enqueued: %w", o.spec.Name, rec.RequestID(), err)
	case !changed:
		// Finished meanwhile, or already marked enqueued: read it back.
		cur, err := o.spec.Table.Get(ctx, rec.RequestID())
		if err != nil {
			return rec.RequestStatus(), err
		}
		return cur.RequestStatus(), nil
	}
	return status, nil
}

// Store runs store, which inserts a request (or finds the one it repeats)
// and writes its audit entry, in one transaction on db.
func Store[R Row](ctx context.Context, db controlplane.DB, store func(ctx context.Context, tx pgx.Tx) (R, bool, error)) (rec R, duplicate bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rec, duplicate, err = store(ctx, tx)
		return err
	})
	return rec, duplicate, err
}

// LogStored logs a request Store returned on log: repeated, with its
// status, or accepted, with attr.
func (o *Outbox[R]) LogStored(ctx context.Context, log *slog.Logger, rec R, duplicate bool, attr slog.Attr) {
	if duplicate {
		log.InfoContext(ctx, o.spec.Noun+" request repeated", slog.String("status", string(rec.RequestStatus())))
		return
	}
	log.LogAttrs(ctx, slog.LevelInfo, o.spec.Noun+" request accepted", attr)
}

// Offer is Enqueue for a request just stored: it returns the row's status
// afterwards, and a failed enqueue is logged on log, not returned: the row
// is stored, so the reconciler enqueues it.
func (o *Outbox[R]) Offer(ctx context.Context, log *slog.Logger, rec R, id string) controlplane.OutboxStatus {
	status, err := o.Enqueue(ctx, rec, id)
	if err != nil {
		log.WarnContext(ctx, o.spec.Noun+" enqueue failed, the reconciler will retry", slog.Any("error", err))
	}
	return status
}

// MarkEnqueued records, for the reconciler, an enqueue of row id's task
// that found it on the queue already (alreadyQueued) or put a new one
// there.
func (o *Outbox[R]) MarkEnqueued(ctx context.Context, id int64, alreadyQueued bool) error {
	if _, _, err := o.spec.Table.MarkEnqueued(ctx, id, alreadyQueued); err != nil {
		return fmt.Errorf("%s: mark request %d enqueued: %w", o.spec.Name, id, err)
	}
	return nil
}

// Wait polls row id until it is finished (done or failed) or ctx ends, and
// returns it as last read. A failed row is returned without error.
func (o *Outbox[R]) Wait(ctx context.Context, id int64) (R, error) {
	tick := time.NewTicker(o.cfg.WaitPoll)
	defer tick.Stop()
	for {
		rec, err := o.spec.Table.Get(ctx, id)
		if err != nil || rec.RequestStatus().Finished() {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("%s: wait for request %d: %w", o.spec.Name, id, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Settle settles one unfinished row for the reconciler and reports
// whether it put a task on the queue.
type Settle[R Row] func(ctx context.Context, rec R) (bool, error)

// Reconcile pages through the unfinished rows untouched for
// ReconcileMinAge and settles each, returning how many tasks it put on the
// queue. A row that fails to settle stops the pass unless keepGoing says
// to go on with the next (the error is returned at the end, joined with
// the others).
func (o *Outbox[R]) Reconcile(ctx context.Context, settle Settle[R], keepGoing func(rec R, err error) bool) (int, error) {
	var (
		n     int
		after int64
		errs  []error
	)
	for {
		recs, err := o.spec.Table.Unfinished(ctx, controlplane.UnfinishedPage{
			MinAge: o.cfg.ReconcileMinAge, After: after, Limit: o.cfg.ReconcileBatch,
		})
		if err != nil {
			return n, errors.Join(append(errs, fmt.Errorf("%s: list unfinished requests: %w", o.spec.Name, err))...)
		}
		for _, rec := range recs {
			after = rec.RequestID()
			queued, err := settle(ctx, rec)
			if queued {
				n++
			}
			if err != nil {
				errs = append(errs, err)
				if !keepGoing(rec, err) {
					return n, errors.Join(errs...)
				}
			}
		}
		if len(recs) < o.cfg.ReconcileBatch {
			return n, errors.Join(errs...)
		}
	}
}

// Pass is the reconciler run as a periodic task on the critical queue:
// entry names the scheduler entry, taskType the task, did the log line of
// a pass that enqueued something.
func (o *Outbox[R]) Pass(entry, taskType, did string, run func(ctx context.Context) (int, error)) queue.Pass {
	return queue.Pass{Entry: entry, Type: taskType, Queue: queue.QueueCritical, Every: o.cfg.ReconcileEvery, Run: run, Did: did}
}
