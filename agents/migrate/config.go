package migrate

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// Defaults of Config and Spec.
const (
	DefaultConcurrency   = 5
	DefaultCPUThreshold  = 70.0
	DefaultLagThreshold  = 10 * time.Second
	DefaultLeaseTTL      = 15 * time.Second
	DefaultSlotWait      = 2 * time.Second
	DefaultSlotPoll      = 25 * time.Millisecond
	DefaultPauseRecheck  = 2 * time.Second
	DefaultLoadTTL       = time.Second
	DefaultMaxAttempts   = 5
	DefaultRetryBackoff  = time.Second
	DefaultTaskTimeout   = time.Hour
	DefaultMaxTaskRetry  = 10
	DefaultStaleReading  = 10 * time.Minute
	maxTenantErrorLength = 2000
)

// Defaults of the reconciler's part of Config.
const (
	DefaultReconcileEvery  = 30 * time.Second
	DefaultReconcileMinAge = 10 * time.Second
	DefaultReconcileBatch  = 500
)

// Config configures a Runner.
type Config struct {
	// DB is the control-plane pool: migration runs, tenants, instances.
	// Required.
	DB *pgxpool.Pool
	// Redis holds the per-instance semaphores. Required.
	Redis redis.UniversalClient
	// Queue enqueues the migrate:tenant tasks. Required.
	Queue *queue.Client
	// Fleet is the fleet name; it prefixes the semaphore keys. Required.
	Fleet string
	// Migrator applies the migration set to one tenant. Every worker of a
	// fleet must carry the same set. Required.
	Migrator *migrations.Migrator
	// Sessions opens each tenant's own login for its migration, never an
	// admin session (the tenant may have planted code on its objects).
	// Required.
	Sessions *sessions.Sessions
	// QueueName is the Asynq queue of the migrate:tenant tasks; workers
	// must serve it. Default queue.QueueMaintenance. Benchmarks and tests
	// that share a Redis database with a live fleet use their own.
	QueueName string
	// Load reads the load of an instance before each tenant starts.
	// Default nil: no throttle.
	Load load.Source

	// LeaseTTL is how long a semaphore slot outlives a worker that died
	// holding it; a live worker refreshes its lease every LeaseTTL/3.
	// Default 15s.
	LeaseTTL time.Duration
	// SlotWait is how long a task waits in its handler for a free slot on
	// its instance before it hands over to a follow-up task at the back of
	// the queue. Default 2s.
	SlotWait time.Duration
	// SlotPoll is how often a waiting task asks Redis for a slot freed by
	// another process (a slot freed in this process wakes it at once).
	// Default 25ms.
	SlotPoll time.Duration
	// PauseRecheck is how long a tenant of a busy instance waits before
	// the instance is read again; the worker's DelayedTaskCheckInterval
	// (queue default 1s) adds to it. Default 2s.
	PauseRecheck time.Duration
	// LoadTTL is how long one load reading of an instance is reused by
	// this process. Default 1s.
	LoadTTL time.Duration
	// StaleReading is the age past which a reading counts as no data (the
	// tenant proceeds). Default 10m.
	StaleReading time.Duration
	// MaxAttempts is how many times a tenant is tried when it fails with a
	// transient error (a lock timeout, a busy tenant lock, a lost
	// connection) before it is marked failed. Errors in the SQL fail at
	// once. Default 5.
	MaxAttempts int
	// RetryBackoff is the wait before the second attempt; it doubles with
	// each further attempt. Default 1s.
	RetryBackoff time.Duration
	// TaskTimeout bounds one migrate:tenant task, migration included.
	// Default 1h.
	TaskTimeout time.Duration
	// MaxTaskRetry is the Asynq retry budget of a task whose handler
	// failed outside the migration (control plane unreachable). Default 10.
	MaxTaskRetry int

	// ReconcileEvery is the period of the reconciler entry added by
	// RegisterSchedule: the tenants of running runs whose task Redis lost
	// are enqueued again, finished runs closed. Default 30s; at least 1s.
	ReconcileEvery time.Duration
	// ReconcileMinAge is how long a tenant's row must stay untouched
	// before the reconciler looks at its task, so a run being started or
	// retried is left to the call doing it. Default 10s; negative means 0.
	ReconcileMinAge time.Duration
	// ReconcileBatch is how many tenants the reconciler reads per query.
	// Default 500.
	ReconcileBatch int
	// ReconcileQueue is the queue of the reconciler's task. Default
	// queue.QueueDefault, so it does not wait behind a backlog of tenant
	// tasks.
	ReconcileQueue string

	// Logger receives run and tenant logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.QueueName = cmp.Or(c.QueueName, queue.QueueMaintenance)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.SlotWait = cmp.Or(c.SlotWait, DefaultSlotWait)
	c.SlotPoll = cmp.Or(c.SlotPoll, DefaultSlotPoll)
	c.PauseRecheck = cmp.Or(c.PauseRecheck, DefaultPauseRecheck)
	c.LoadTTL = cmp.Or(c.LoadTTL, DefaultLoadTTL)
	c.StaleReading = cmp.Or(c.StaleReading, DefaultStaleReading)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, DefaultRetryBackoff)
	c.TaskTimeout = cmp.Or(c.TaskTimeout, DefaultTaskTimeout)
	c.MaxTaskRetry = cmp.Or(c.MaxTaskRetry, DefaultMaxTaskRetry)
	c.ReconcileEvery = cmp.Or(c.ReconcileEvery, DefaultReconcileEvery)
	switch {
	case c.ReconcileMinAge == 0:
		c.ReconcileMinAge = DefaultReconcileMinAge
	case c.ReconcileMinAge < 0:
		c.ReconcileMinAge = 0
	}
	c.ReconcileBatch = cmp.Or(c.ReconcileBatch, DefaultReconcileBatch)
	c.ReconcileQueue = cmp.Or(c.ReconcileQueue, queue.QueueDefault)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("db: required"))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("redis: required"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("queue: required"))
	}
	if c.Migrator == nil {
		errs = append(errs, errors.New("migrator: required"))
	}
	if c.Sessions == nil {
		errs = append(errs, errors.New("sessions: required"))
	}
	if err := tenants.ValidateFleet(c.Fleet); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"lease ttl", c.LeaseTTL}, {"slot wait", c.SlotWait}, {"slot poll", c.SlotPoll},
		{"pause recheck", c.PauseRecheck}, {"load ttl", c.LoadTTL}, {"retry backoff", c.RetryBackoff},
		{"task timeout", c.TaskTimeout}, {"stale reading", c.StaleReading}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", d.name, d.v))
		}
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease ttl %s: below 300ms", c.LeaseTTL))
	}
	if c.ReconcileEvery < time.Second {
		errs = append(errs, fmt.Errorf("reconcile every %s: below 1s", c.ReconcileEvery))
	}
	if c.ReconcileBatch < 1 {
		errs = append(errs, fmt.Errorf("reconcile batch %d: must be at least 1", c.ReconcileBatch))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: must be at least 1", c.MaxAttempts))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("migrate: config: %w", err)
	}
	return nil
}
