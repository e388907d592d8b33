package intake

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
)

// Intake takes onboarding requests, stores them in the outbox and enqueues
// their tenant:onboard tasks. It is safe for concurrent use, and any number
// of processes may run one over the same control plane.
type Intake struct {
	cfg       Config
	store     *controlplane.Store
	outbox    *outbox.Outbox[Record]
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
	st := controlplane.NewStore(cfg.DB)
	ob := outbox.New(cfg.Config, outbox.Spec[Record]{
		Name:  "intake",
		Noun:  "onboarding",
		Queue: cfg.Queue,
		Table: outbox.Table[Record]{Get: st.IntakeRequest, MarkEnqueued: st.MarkIntakeEnqueued, Unfinished: st.UnfinishedIntakeRequests},
		Task: func(rec Record) (*asynq.Task, error) {
			return queue.NewTask(queue.TypeTenantOnboard, queue.OnboardPayload{RequestID: rec.ID, TenantID: rec.TenantID})
		},
	})
	return &Intake{cfg: cfg, store: st, outbox: ob, ticketKey: key, log: cfg.Logger}, nil
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
	rec, duplicate, err := outbox.Store(ctx, in.cfg.DB, func(ctx context.Context, tx pgx.Tx) (Record, bool, error) {
		return store(ctx, tx, r)
	})
	if err != nil {
		return Accepted{}, err
	}
	log := in.log.With(slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID),
		slog.String("source", string(r.Source)))
	in.outbox.LogStored(ctx, log, rec, duplicate, slog.String("tier", string(rec.Tier)))
	if !rec.Status.Finished() {
		rec.Status = in.outbox.Offer(ctx, log, rec, TaskID(rec))
	}
	return acceptedOf(rec, duplicate), nil
}

// Get returns the stored request id, or an error matching ErrNotFound.
func (in *Intake) Get(ctx context.Context, id int64) (Record, error) {
	return in.store.IntakeRequest(ctx, id)
}

// Wait polls request id until it is finished (done or failed) or ctx ends,
// and returns it as last read. A failed request is returned without error:
// its Status and Error say so.
func (in *Intake) Wait(ctx context.Context, id int64) (Record, error) {
	return in.outbox.Wait(ctx, id)
}

// MarkDone marks request id done and records it in the audit log; the
// provisioning agent calls it when the tenant is onboarded. Idempotent.
func (in *Intake) MarkDone(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error {
		_, err := in.MarkDoneTx(ctx, tx, id)
		return err
	})
}

// MarkFailed marks request id failed with reason and records it in the
// audit log; the provisioning agent calls it when it gives up. The reason
// is shown to requesters: it must not hold secrets.
func (in *Intake) MarkFailed(ctx context.Context, id int64, reason string) error {
	return pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error { return markFailedTx(ctx, tx, id, reason) })
}
