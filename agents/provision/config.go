package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// Defaults of Config.
const (
	DefaultMaxTenants        = 500
	DefaultCheckDelay        = queue.InstanceCheckDelay
	DefaultMaxChecks         = 120
	DefaultPlacementWait     = 10 * time.Second
	DefaultPlacementPoll     = 25 * time.Millisecond
	DefaultWaitRetryDelay    = 5 * time.Second
	DefaultWakeMaxRetry      = 3
	DefaultInstanceMaxRetry  = 10
	DefaultCapacityThreshold = provider.DefaultCapacityThreshold
	DefaultLeaseTTL          = 30 * time.Second
	// MinLeaseTTL is the shortest LeaseTTL accepted.
	MinLeaseTTL = 100 * time.Millisecond
)

// IntakeOutbox is what the agent needs of the intake outbox beyond reading
// its rows (controlplane.Store): finishing a request writes the intake's
// audit entry with it, and the outbox's reconciler hands the agent the
// requests whose task it found abandoned. agents/intake's *Intake is one.
type IntakeOutbox interface {
	// MarkDoneTx marks request id done in tx, reporting false when it was
	// done already.
	MarkDoneTx(ctx context.Context, tx pgx.Tx, id int64) (bool, error)
	// MarkFailed marks request id failed with reason; a done request
	// fails with controlplane.ErrIntakeRequestDone.
	MarkFailed(ctx context.Context, id int64, reason string) error
	// OnAbandoned sets what settles a request whose task was archived
	// unfinished.
	OnAbandoned(f func(ctx context.Context, rec controlplane.IntakeRequest, reason string) error)
}

// Config holds the agent's dependencies and knobs.
type Config struct {
	// DB is the control-plane pool. Required.
	DB *pgxpool.Pool
	// Queue enqueues follow-up tasks (instance:create, instance:check, the
	// wake-up of waiting onboardings). Required.
	Queue *queue.Client
	// Catalog is the control-plane store: every read and write of the
	// control plane's tenants, instances, onboarding records and leases.
	// Required.
	Catalog *controlplane.Store
	// Router publishes and invalidates routes. Required.
	Router *tenants.Router
	// Intake is the outbox the onboarding requests come from
	// (agents/intake's *Intake), which the agent finishes them through.
	// Required.
	Intake IntakeOutbox
	// Provider creates instances. Required.
	Provider provider.Provider
	// Sessions opens the agent's sessions on instances: admin ones for
	// isolation DDL, the tenant's own login for its migrations (never an
	// admin session that switched role: the tenant may have planted code on
	// its objects). Required.
	Sessions *sessions.Sessions
	// Migrator migrates new tenants' schemas to the latest version.
	// Required.
	Migrator *migrations.Migrator
	// Fleet is the fleet name (config.Config.Name). Required.
	Fleet string

	// CapacityThreshold is the fill ratio of a shared instance at which the
	// next one is created ahead of need and new tenants stop preferring it.
	// Default 0.8; above 0 and at most 1.
	CapacityThreshold float64
	// MaxTenants is the tenant capacity of a new shared instance
	// (config.Config.MaxTenantsPerInstance). Default 500.
	MaxTenants int
	// CheckDelay is how long instance:check waits between polls of a
	// provider operation. Default queue.InstanceCheckDelay (15s).
	CheckDelay time.Duration
	// MaxChecks bounds the instance:check polls of one instance before it
	// is marked failed. Default 120 (30 minutes at the default delay).
	MaxChecks int
	// PlacementWait is how long an onboarding waits inside its task for an
	// instance being created before it gives the worker back (a retryable
	// error; instance:create wakes it when the instance is ready).
	// Default 10s; negative means no wait.
	PlacementWait time.Duration
	// PlacementPoll is how often that wait reads the instance. Default 25ms.
	PlacementPoll time.Duration
	// WaitRetryDelay is when an onboarding that gave its worker back while
	// an instance is created runs again (not counted as a failure; the
	// instance's readiness also wakes it). Default 5s.
	WaitRetryDelay time.Duration
	// WakeMaxRetry is the retry budget of the tasks that resume waiting
	// onboardings once their instance is ready. Default 3.
	WakeMaxRetry int
	// InstanceMaxRetry is the retry budget of instance:create and
	// instance:check on provider errors that are worth retrying. Default 10.
	InstanceMaxRetry int
	// LeaseTTL is how long a tenant's lease lasts unless renewed: the
	// task at work on a tenant renews it every LeaseTTL/3 and stops if it
	// cannot, and a worker killed mid-task keeps the tenant from other
	// tasks this long (Asynq gives a killed worker's task back after one
	// to two minutes anyway). Default 30s; at least MinLeaseTTL.
	LeaseTTL time.Duration
	// Logger receives logs outside task handlers (handlers log through
	// queue.Logger). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock archived schema names are dated with. Default
	// time.Now.
	Now func() time.Time

	// afterStep, when set, runs after each saga step completes; an error
	// (or a panic) stops the saga there, as a killed worker would, and a
	// hook that blocks makes the step slow. Tests only.
	afterStep func(step string) error
}

func (c Config) withDefaults() Config {
	c.CapacityThreshold = cmp.Or(c.CapacityThreshold, DefaultCapacityThreshold)
	c.MaxTenants = cmp.Or(c.MaxTenants, DefaultMaxTenants)
	c.CheckDelay = cmp.Or(c.CheckDelay, DefaultCheckDelay)
	c.MaxChecks = cmp.Or(c.MaxChecks, DefaultMaxChecks)
	switch {
	case c.PlacementWait == 0:
		c.PlacementWait = DefaultPlacementWait
	case c.PlacementWait < 0:
		c.PlacementWait = 0
	}
	c.PlacementPoll = cmp.Or(c.PlacementPoll, DefaultPlacementPoll)
	c.WaitRetryDelay = cmp.Or(c.WaitRetryDelay, DefaultWaitRetryDelay)
	c.WakeMaxRetry = cmp.Or(c.WakeMaxRetry, DefaultWakeMaxRetry)
	c.InstanceMaxRetry = cmp.Or(c.InstanceMaxRetry, DefaultInstanceMaxRetry)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"DB", c.DB != nil}, {"Queue", c.Queue != nil}, {"Catalog", c.Catalog != nil},
		{"Router", c.Router != nil}, {"Intake", c.Intake != nil}, {"Provider", c.Provider != nil},
		{"Sessions", c.Sessions != nil}, {"Migrator", c.Migrator != nil},
	} {
		if !f.set {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if err := tenants.ValidateFleet(c.Fleet); err != nil {
		errs = append(errs, err)
	}
	if c.CapacityThreshold <= 0 || c.CapacityThreshold > 1 {
		errs = append(errs, fmt.Errorf("CapacityThreshold %g: must be above 0 and at most 1", c.CapacityThreshold))
	}
	if c.MaxTenants < 1 || c.MaxChecks < 1 || c.CheckDelay < 0 || c.PlacementPoll <= 0 {
		errs = append(errs, errors.New("MaxTenants and MaxChecks must be positive, CheckDelay not negative"))
	}
	if c.LeaseTTL < MinLeaseTTL {
		errs = append(errs, fmt.Errorf("LeaseTTL %s: must be at least %s", c.LeaseTTL, MinLeaseTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("provision: config: %w", err)
	}
	return nil
}
