package migrate

import "github.com/tenantfleet/tenantfleet/infra/controlplane"

// RunState is the status of a run, as the control plane records it.
type RunState = controlplane.MigrationRunState

// Run states.
const (
	// RunRunning: some tenants are not finished.
	RunRunning = controlplane.MigrationRunRunning
	// RunSucceeded: every tenant succeeded.
	RunSucceeded = controlplane.MigrationRunSucceeded
	// RunFailed: every tenant finished and some failed; Retry re-runs them.
	RunFailed = controlplane.MigrationRunFailed
	// RunStopped: a canary tenant failed, so the other tenants were not
	// started; Retry re-runs the failed canaries and, when they pass,
	// the rest.
	RunStopped = controlplane.MigrationRunStopped
)

// TenantState is the status of one tenant within a run, as the control
// plane records it.
type TenantState = controlplane.MigrationTenantState

// Tenant states.
const (
	// TenantPending: not started yet, or waiting for a free slot or for a
	// retry after a transient failure (Reason says which).
	TenantPending = controlplane.MigrationTenantPending
	// TenantRunning: migrating now.
	TenantRunning = controlplane.MigrationTenantRunning
	// TenantPaused: its instance is over a load threshold (Reason says
	// which); it starts when the instance is healthy again.
	TenantPaused = controlplane.MigrationTenantPaused
	// TenantSucceeded: at the run's target version.
	TenantSucceeded = controlplane.MigrationTenantSucceeded
	// TenantFailed: a migration failed; Error says why.
	TenantFailed = controlplane.MigrationTenantFailed
)

// Run phases.
const (
	phaseCanary = controlplane.MigrationPhaseCanary
	phaseMain   = controlplane.MigrationPhaseMain
)
