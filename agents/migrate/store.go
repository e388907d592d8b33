package migrate

import (
	"context"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// work is everything a tenant task needs to know, read in one round trip
// (controlplane.Store.MigrationTask).
type work struct {
	controlplane.MigrationTask
}

// thresholds are the run's load thresholds.
func (w work) thresholds() Thresholds {
	return Thresholds{CPUPercent: w.CPUThreshold, ReplicaLag: w.LagThreshold}
}

// outcome is the record of one attempt.
type outcome struct {
	Status   TenantState
	Reason   string
	Before   *int64
	After    *int64
	Duration time.Duration
	Err      string
	// skip: nothing to record (the tenant was finished by another task).
	skip bool
}

// setOutcome records an attempt's outcome, its error cut to
// maxTenantErrorLength.
func (r *Runner) setOutcome(ctx context.Context, w work, o outcome) error {
	if len(o.Err) > maxTenantErrorLength {
		o.Err = o.Err[:maxTenantErrorLength]
	}
	return r.store.RecordMigrationAttempt(ctx, w.RunID, w.TenantID, controlplane.MigrationAttempt{
		Status: o.Status, Reason: o.Reason, Before: o.Before, After: o.After, Duration: o.Duration, Error: o.Err})
}
