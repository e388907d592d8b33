package provision

import (
	"context"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
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

func (a *Agent) recordStart(ctx context.Context, tenantID string, requestID int64) error {
	return a.cfg.Catalog.StartOnboarding(ctx, tenantID, requestID)
}

func (a *Agent) recordStep(ctx context.Context, tenantID, step string) error {
	return a.cfg.Catalog.SetOnboardingStep(ctx, tenantID, step)
}

func (a *Agent) recordError(ctx context.Context, tenantID string, cause error) {
	_ = a.cfg.Catalog.SetOnboardingError(context.WithoutCancel(ctx), tenantID, cause.Error())
}

// Progress is the recorded state of one tenant's onboarding.
type Progress = controlplane.Onboarding

// Progress returns the recorded onboarding progress of tenantID, or an
// error matching controlplane.ErrNoOnboarding when it has none.
func (a *Agent) Progress(ctx context.Context, tenantID string) (Progress, error) {
	return a.cfg.Catalog.GetOnboarding(ctx, tenantID)
}
