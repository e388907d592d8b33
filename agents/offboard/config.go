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
	"github.com/tenantfleet/tenantfleet/queue/outbox"
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

	// Config holds the outbox's knobs: MaxRetry (the tasks' retry
	// budget) defaults to 10, WaitPoll (how often Wait reads a request) to
	// 250ms, the others as documented on outbox.Config.
	outbox.Config
	// Logger receives the outbox's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxRetry = 10
	DefaultWaitPoll = 250 * time.Millisecond
)

func (c Config) withDefaults() Config {
	c.Config = c.WithDefaults(outbox.Defaults{MaxRetry: DefaultMaxRetry, WaitPoll: DefaultWaitPoll})
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

func (c Config) validate() error {
	var errs []error
	errs = append(errs, c.Problems(c.DB, c.Queue)...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("offboard: config: %w", err)
	}
	return nil
}
