package batch

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Kind is a batch job kind: a function run for one tenant per period.
type Kind struct {
	// Name names the kind in task ids, the control plane and the CLI:
	// lowercase words joined by '-' (queue.ValidBatchKind). Required.
	Name string
	// Timing is when it runs. Zero fields take DefaultTiming's.
	Timing Timing
	// Timeout bounds one run. Default 10m, at most the period.
	Timeout time.Duration
	// MaxRetry is how often a failed run is retried within its period.
	// Default 3; -1 means never.
	MaxRetry int
	// Run does the job for job.TenantID. Its errors are recorded and make
	// the task retry.
	Run func(ctx context.Context, job Job) error
}

// Job is one run of a kind for one tenant, as its Run function sees it.
type Job struct {
	// RunID is the control-plane id of the run.
	RunID int64
	// Kind is the kind's name.
	Kind string
	// TenantID is the tenant the job runs for.
	TenantID string
	// Slot is the tenant's run time (UTC) the task was enqueued for.
	Slot time.Time
	// Store records the job's results in the control plane.
	Store *controlplane.Store

	scope Scope
}

// Scope runs work inside one transaction scoped to a tenant; *tenants.Pools
// implements it.
type Scope interface {
	WithTenant(ctx context.Context, tenantID string, fn func(ctx context.Context, tx pgx.Tx) error) error
	WithTenantReadOnly(ctx context.Context, tenantID string, fn func(ctx context.Context, tx pgx.Tx) error) error
}

// WithTenant runs fn in one transaction scoped to the job's tenant (and to
// no other) at batch priority.
func (j Job) WithTenant(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return j.scope.WithTenant(ctx, j.TenantID, fn)
}

// WithTenantReadOnly is WithTenant with a read-only transaction.
func (j Job) WithTenantReadOnly(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return j.scope.WithTenantReadOnly(ctx, j.TenantID, fn)
}

// withDefaults fills and validates a kind.
func (k Kind) withDefaults() (Kind, error) {
	if !queue.ValidBatchKind(k.Name) {
		return k, fmt.Errorf("batch: kind name %q must be lowercase words joined by '-', at most 40 characters", k.Name)
	}
	if k.Run == nil {
		return k, fmt.Errorf("batch: kind %s has no Run function", k.Name)
	}
	var err error
	if k.Timing, err = k.Timing.withDefaults(); err != nil {
		return k, fmt.Errorf("batch: kind %s: %w", k.Name, err)
	}
	if k.Timeout == 0 {
		k.Timeout = min(10*time.Minute, k.Timing.Period)
	}
	if k.Timeout < 0 || k.Timeout > k.Timing.Period {
		return k, fmt.Errorf("batch: kind %s: timeout %s must be positive and at most the period %s", k.Name, k.Timeout, k.Timing.Period)
	}
	switch {
	case k.MaxRetry == 0:
		k.MaxRetry = 3
	case k.MaxRetry < 0:
		k.MaxRetry = 0
	}
	return k, nil
}

// entryName is the scheduler entry and task-id prefix of a kind.
func entryName(kind string) string { return "batch:" + kind }
