package outbox

import (
	"cmp"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/queue"
)

// Config holds the knobs every outbox shares. The agents that run an
// outbox (agents/intake, agents/offboard) embed it in their own Config.
type Config struct {
	// MaxRetry is the tasks' retry budget. Default: the outbox's own
	// (Defaults.MaxRetry); negative means no retry.
	MaxRetry int
	// ReconcileMinAge is how long a request stays untouched before the
	// reconciler re-enqueues it, so it does not race a fresh request.
	// Default 10s; negative means no minimum.
	ReconcileMinAge time.Duration
	// ReconcileBatch is how many requests the reconciler reads per query.
	// Default 500.
	ReconcileBatch int
	// ReconcileEvery is the period of the reconciler's scheduler entry.
	// Default 10s; at least 1s.
	ReconcileEvery time.Duration
	// WaitPoll is how often Wait reads a request. Default: the outbox's
	// own (Defaults.WaitPoll).
	WaitPoll time.Duration
}

// Defaults shared by every outbox.
const (
	DefaultReconcileMinAge = 10 * time.Second
	DefaultReconcileBatch  = 500
	DefaultReconcileEvery  = 10 * time.Second
)

// Defaults are the defaults that differ from one outbox to the other.
type Defaults struct {
	// MaxRetry is the default of Config.MaxRetry.
	MaxRetry int
	// WaitPoll is the default of Config.WaitPoll.
	WaitPoll time.Duration
}

// WithDefaults fills the zero fields of c, d's where the outboxes differ.
func (c Config) WithDefaults(d Defaults) Config {
	switch {
	case c.MaxRetry == 0:
		c.MaxRetry = d.MaxRetry
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
	c.WaitPoll = cmp.Or(c.WaitPoll, d.WaitPoll)
	return c
}

// Problems lists what is wrong with c once its defaults are filled, and
// whether the control-plane pool and the queue client an outbox needs are
// missing, for the agent's validation to join with its own.
func (c Config) Problems(db *pgxpool.Pool, q *queue.Client) []error {
	var errs []error
	if db == nil {
		errs = append(errs, errors.New("a DB pool is required"))
	}
	if q == nil {
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
	return errs
}
