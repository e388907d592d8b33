package offboard

import (
	"context"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
)

// Outbox takes offboarding and purge requests, stores them and enqueues
// their tasks, and reconciles the unfinished ones. It is safe for
// concurrent use, and any number of processes may run one over the same
// control plane.
type Outbox struct {
	cfg       Config
	store     *controlplane.Store
	outbox    *outbox.Outbox[Record]
	inspector *asynq.Inspector // nil without Config.Redis
	log       *slog.Logger
}

// New builds an Outbox from cfg, filling defaults and validating it.
func New(cfg Config) (*Outbox, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st := controlplane.NewStore(cfg.DB)
	o := &Outbox{cfg: cfg, store: st, log: cfg.Logger, outbox: outbox.New(cfg.Config, outbox.Spec[Record]{
		Name:  "offboard",
		Noun:  "offboarding",
		Queue: cfg.Queue,
		Table: outbox.Table[Record]{Get: st.OffboardRequest, MarkEnqueued: st.MarkOffboardEnqueued, Unfinished: st.UnfinishedOffboardRequests},
		Task: func(rec Record) (*asynq.Task, error) {
			return queue.NewTask(TaskType(rec.Action), queue.OffboardPayload{
				RequestID: rec.ID, TenantID: rec.TenantID, Drop: rec.Action.Destroys(), RequestedBy: rec.RequestedBy,
			})
		},
	})}
	if cfg.Redis != nil {
		o.inspector = asynq.NewInspectorFromRedisClient(cfg.Redis)
	}
	return o, nil
}

// Submit validates r, then in one transaction stores it (or finds the
// request it repeats), marks the tenant offboarding (no longer routed) and
// writes the audit entry; then it invalidates the tenant's route and
// enqueues the request's task. An invalid request fails with
// ErrInvalidRequest before any SQL runs; an unknown tenant with
// tenants.ErrTenantNotFound; a request the tenant's state does not allow
// with ErrConflict. Once the request is stored, a failed enqueue is not an
// error: the answer says StatusPending and the reconciler enqueues it.
func (o *Outbox) Submit(ctx context.Context, r Request) (Accepted, error) {
	r, err := r.normalize()
	if err != nil {
		return Accepted{}, err
	}
	rec, duplicate, err := outbox.Store(ctx, o.cfg.DB, func(ctx context.Context, tx pgx.Tx) (Record, bool, error) {
		return store(ctx, tx, r)
	})
	if err != nil {
		return Accepted{}, err
	}
	log := o.log.With(slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID),
		slog.String("action", string(rec.Action)))
	o.outbox.LogStored(ctx, log, rec, duplicate, slog.String("requested_by", r.RequestedBy))
	if rec.Status.Finished() {
		return acceptedOf(rec, duplicate), nil
	}
	if o.cfg.Router != nil {
		if err := o.cfg.Router.Invalidate(ctx, rec.TenantID); err != nil {
			log.WarnContext(ctx, "route invalidation failed, the task retries it", slog.Any("error", err))
		}
	}
	rec.Status = o.outbox.Offer(ctx, log, rec, TaskID(rec.ID))
	return acceptedOf(rec, duplicate), nil
}

// Get returns stored request id, or an error matching ErrNotFound.
func (o *Outbox) Get(ctx context.Context, id int64) (Record, error) {
	return o.store.OffboardRequest(ctx, id)
}

// Wait polls request id until it is finished (done or failed) or ctx ends,
// and returns it as last read. A failed request is returned without error:
// its Status and Error say so.
func (o *Outbox) Wait(ctx context.Context, id int64) (Record, error) {
	return o.outbox.Wait(ctx, id)
}
