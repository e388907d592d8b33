package provision

import (
	"context"
	"fmt"
	"time"
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
