package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The steps of the onboarding saga, in order, as recorded in
// tenant_onboarding.step and passed to the test hook.
const (
	StepLoad     = "load"     // the intake request is read
	StepClaim    = "claim"    // the tenant row exists, status provisioning
	StepPlace    = "place"    // the tenant is placed on a ready instance
	StepPrepare  = "prepare"  // the instance's database is readied
	StepEnsure   = "ensure"   // role, schema and grants exist
	StepMigrate  = "migrate"  // the schema is at the latest version
	StepActivate = "activate" // the tenant is active
	StepPublish  = "publish"  // the route is published
	StepDone     = "done"     // the request is done, audited
)

// Steps lists the saga's steps in order.
var Steps = []string{StepLoad, StepClaim, StepPlace, StepPrepare, StepEnsure, StepMigrate, StepActivate, StepPublish, StepDone}

// leaseTTL bounds how long a crashed task keeps a tenant from other tasks
// (the same task's retries take it back at once).
const leaseTTL = 2 * time.Minute

// The progress record. tenant_onboarding has a foreign key to tenants, so
// the row is written once the tenant row exists (StepClaim).
const (
	upsertProgressSQL = `INSERT INTO tenant_onboarding (tenant_id, request_id, attempts)
VALUES ($1, $2, 1)
ON CONFLICT (tenant_id) DO UPDATE SET request_id = excluded.request_id,
	attempts = tenant_onboarding.attempts + 1, updated_at = now()`
	stepSQL = `UPDATE tenant_onboarding SET step = $2, last_error = '', updated_at = now()
WHERE tenant_id = $1`
	errorSQL = `UPDATE tenant_onboarding SET last_error = $2, updated_at = now() WHERE tenant_id = $1`
)

func (a *Agent) recordStart(ctx context.Context, tenantID string, requestID int64) error {
	if _, err := a.cfg.DB.Exec(ctx, upsertProgressSQL, tenantID, requestID); err != nil {
		return fmt.Errorf("provision: record onboarding of %s: %w", tenantID, err)
	}
	return nil
}

func (a *Agent) recordStep(ctx context.Context, tenantID, step string) error {
	if _, err := a.cfg.DB.Exec(ctx, stepSQL, tenantID, step); err != nil {
		return fmt.Errorf("provision: record step %s of %s: %w", step, tenantID, err)
	}
	return nil
}

func (a *Agent) recordError(ctx context.Context, tenantID string, cause error) {
	_, _ = a.cfg.DB.Exec(context.WithoutCancel(ctx), errorSQL, tenantID, cause.Error())
}

// Progress is the recorded state of one tenant's onboarding.
type Progress struct {
	TenantID  string
	RequestID int64
	// Step is the last step that completed ("" before the first).
	Step string
	// Attempts counts the saga runs that reached the tenant row.
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// Progress returns the recorded onboarding progress of tenantID, or an
// error matching pgx.ErrNoRows when it has none.
func (a *Agent) Progress(ctx context.Context, tenantID string) (Progress, error) {
	var p Progress
	err := a.cfg.DB.QueryRow(ctx, `SELECT tenant_id, request_id, step, attempts, last_error, updated_at
		FROM tenant_onboarding WHERE tenant_id = $1`, tenantID).
		Scan(&p.TenantID, &p.RequestID, &p.Step, &p.Attempts, &p.LastError, &p.UpdatedAt)
	if err != nil {
		return Progress{}, fmt.Errorf("provision: progress of %s: %w", tenantID, err)
	}
	return p, nil
}

// leases live in a table of their own so that a lease can be taken before
// the tenant row exists.
const (
	claimLeaseSQL = `INSERT INTO provision_leases (tenant_id, owner, until)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (tenant_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE provision_leases.owner = excluded.owner OR provision_leases.until < now()
RETURNING owner`
	releaseLeaseSQL = `DELETE FROM provision_leases WHERE tenant_id = $1 AND owner = $2`
)

// lease takes the tenant for owner: one task at a time works on a tenant.
// A task's retries share its owner, so a retry after a crash takes the
// lease back at once; other tasks wait for it to expire. release gives it
// back.
func (a *Agent) lease(ctx context.Context, tenantID, owner string) (release func(), err error) {
	var got string
	err = a.cfg.DB.QueryRow(ctx, claimLeaseSQL, tenantID, owner, leaseTTL.Seconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrBusy, tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("provision: lease %s: %w", tenantID, err)
	}
	return func() {
		_, _ = a.cfg.DB.Exec(context.WithoutCancel(ctx), releaseLeaseSQL, tenantID, owner)
	}, nil
}
