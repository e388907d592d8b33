package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/queue"
)

// Intake takes onboarding requests, stores them in the outbox and enqueues
// their tenant:onboard tasks. It is safe for concurrent use, and any number
// of processes may run one over the same control plane.
type Intake struct {
	cfg       Config
	ticketKey []byte
	log       *slog.Logger
	abandonFn atomic.Pointer[AbandonFunc]
}

// New builds an Intake from cfg, filling defaults and validating it.
func New(cfg Config) (*Intake, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key, _ := ticketKey(cfg.TicketSecret) // checked by validate
	if cfg.JiraSecret != "" && len(cfg.Jira.Projects) == 0 {
		cfg.Logger.Warn("Jira onboarding is off: no project is allowed to onboard (FLEET_JIRA_PROJECTS is empty); " +
			"signed Jira deliveries are answered 200 and onboard nothing")
	}
	return &Intake{cfg: cfg, ticketKey: key, log: cfg.Logger}, nil
}

// Submit validates r, stores it in the outbox (or finds the request it
// repeats) and enqueues its tenant:onboard task. An invalid request is
// rejected with an *InvalidRequestError before any SQL runs. Once the
// request is stored, a failed enqueue is not an error: the answer says
// StatusPending and the reconciler enqueues it later.
func (in *Intake) Submit(ctx context.Context, r Request) (Accepted, error) {
	r, err := r.normalize()
	if err != nil {
		return Accepted{}, err
	}
	var (
		rec       Record
		duplicate bool
	)
	err = pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error {
		var err error
		rec, duplicate, err = store(ctx, tx, r)
		return err
	})
	if err != nil {
		return Accepted{}, err
	}
	log := in.log.With(slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID),
		slog.String("source", string(r.Source)))
	if duplicate {
		log.InfoContext(ctx, "onboarding request repeated", slog.String("status", string(rec.Status)))
	} else {
		log.InfoContext(ctx, "onboarding request accepted", slog.String("tier", string(rec.Tier)))
	}
	if !rec.Status.Finished() {
		status, err := in.enqueue(ctx, rec)
		if err != nil {
			log.WarnContext(ctx, "onboarding enqueue failed, the reconciler will retry", slog.Any("error", err))
		} else {
			rec.Status = status
		}
	}
	return acceptedOf(rec, duplicate), nil
}

// enqueue puts the request's tenant:onboard task on the critical queue
// under its deterministic id and records it. It returns the request's
// status afterwards.
func (in *Intake) enqueue(ctx context.Context, rec Record) (Status, error) {
	res, err := in.enqueueTask(ctx, rec)
	if err != nil {
		return rec.Status, err
	}
	q := markEnqueuedSQL
	if res.Duplicate {
		q = markSeenSQL
	}
	var status Status
	err = in.cfg.DB.QueryRow(ctx, q, rec.ID).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Finished meanwhile, or already marked enqueued: read it back.
		cur, err := get(ctx, in.cfg.DB, rec.ID, false)
		if err != nil {
			return rec.Status, err
		}
		return cur.Status, nil
	case err != nil:
		return rec.Status, fmt.Errorf("intake: mark request %d enqueued: %w", rec.ID, err)
	}
	return status, nil
}

func (in *Intake) enqueueTask(ctx context.Context, rec Record) (queue.Enqueued, error) {
	task, err := queue.NewTask(queue.TypeTenantOnboard, queue.OnboardPayload{RequestID: rec.ID, TenantID: rec.TenantID})
	if err != nil {
		return queue.Enqueued{}, err
	}
	return in.cfg.Queue.Enqueue(ctx, task,
		asynq.TaskID(rec.TaskID()),
		asynq.Queue(queue.QueueCritical),
		asynq.MaxRetry(in.cfg.MaxRetry),
		asynq.Retention(queue.DefaultRetention))
}

// Get returns the stored request id, or an error matching ErrNotFound.
func (in *Intake) Get(ctx context.Context, id int64) (Record, error) {
	return get(ctx, in.cfg.DB, id, false)
}

// Wait polls request id until it is finished (done or failed) or ctx ends,
// and returns it as last read. A failed request is returned without error:
// its Status and Error say so.
func (in *Intake) Wait(ctx context.Context, id int64) (Record, error) {
	tick := time.NewTicker(in.cfg.WaitPoll)
	defer tick.Stop()
	for {
		rec, err := in.Get(ctx, id)
		if err != nil || rec.Status.Finished() {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("intake: wait for request %d: %w", id, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// MarkDone marks request id done and records it in the audit log; the
// provisioning agent calls it when the tenant is onboarded. Idempotent.
func (in *Intake) MarkDone(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error {
		_, err := MarkDoneTx(ctx, tx, id)
		return err
	})
}

// MarkFailed marks request id failed with reason and records it in the
// audit log; the provisioning agent calls it when it gives up. The reason
// is shown to requesters: it must not hold secrets.
func (in *Intake) MarkFailed(ctx context.Context, id int64, reason string) error {
	return pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error { return MarkFailedTx(ctx, tx, id, reason) })
}
