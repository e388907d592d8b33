package offboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/queue"
)

// Invalidator drops a tenant's cached route in every process
// (tenants.Router).
type Invalidator interface {
	Invalidate(ctx context.Context, tenantID string) error
}

// Config configures an Outbox.
type Config struct {
	// DB is the control-plane pool holding offboard_requests, tenants and
	// audit_log. Required.
	DB *pgxpool.Pool
	// Queue enqueues the tenant:offboard and tenant:purge tasks. Required.
	Queue *queue.Client
	// Redis is the queues' Redis, through which the reconciler looks at a
	// task that is already there: one that ended without recording an
	// outcome (archived after its last attempt) marks its request failed.
	// Optional; without it such a request stays unfinished.
	Redis redis.UniversalClient
	// Router, when set, has the tenant's route invalidated as soon as the
	// request is stored (the task does it again). Optional.
	Router Invalidator

	// MaxRetry is the tasks' retry budget. Default 10; negative means no
	// retry.
	MaxRetry int
	// ReconcileMinAge is how long a request stays untouched before the
	// reconciler re-enqueues it, so it does not race a fresh request.
	// Default 10s; negative means no minimum.
	ReconcileMinAge time.Duration
	// ReconcileBatch is how many requests the reconciler reads per query.
	// Default 500.
	ReconcileBatch int
	// ReconcileEvery is the period of the reconciler entry registered by
	// RegisterSchedule. Default 10s; at least 1s.
	ReconcileEvery time.Duration
	// WaitPoll is how often Wait reads a request. Default 250ms.
	WaitPoll time.Duration
	// Logger receives the outbox's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxRetry        = 10
	DefaultReconcileMinAge = 10 * time.Second
	DefaultReconcileBatch  = 500
	DefaultReconcileEvery  = 10 * time.Second
	DefaultWaitPoll        = 250 * time.Millisecond
)

func (c Config) withDefaults() Config {
	switch {
	case c.MaxRetry == 0:
		c.MaxRetry = DefaultMaxRetry
	case c.MaxRetry < 0:
		c.MaxRetry = 0
	}
	switch {
	case c.ReconcileMinAge == 0:
		c.ReconcileMinAge = DefaultReconcileMinAge
	case c.ReconcileMinAge < 0:
		c.ReconcileMinAge = 0
	}
	c.ReconcileBatch = cmp.Or(c.ReconcileBatch, DefaultReconcileBatch)
	c.ReconcileEvery = cmp.Or(c.ReconcileEvery, DefaultReconcileEvery)
	c.WaitPoll = cmp.Or(c.WaitPoll, DefaultWaitPoll)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("a DB pool is required"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("a Queue client is required"))
	}
	if c.ReconcileBatch < 1 {
		errs = append(errs, errors.New("ReconcileBatch must be positive"))
	}
	if c.ReconcileEvery < time.Second {
		errs = append(errs, errors.New("ReconcileEvery must be at least 1s"))
	}
	if c.WaitPoll < 0 {
		errs = append(errs, errors.New("WaitPoll must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("offboard: config: %w", err)
	}
	return nil
}
