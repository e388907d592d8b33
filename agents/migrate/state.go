package migrate

// RunState is the status of a run.
type RunState string

// Run states.
const (
	// RunRunning: some tenants are not finished.
	RunRunning RunState = "running"
	// RunSucceeded: every tenant succeeded.
	RunSucceeded RunState = "succeeded"
	// RunFailed: every tenant finished and some failed; Retry re-runs them.
	RunFailed RunState = "failed"
	// RunStopped: a canary tenant failed, so the other tenants were not
	// started; Retry re-runs the failed canaries and, when they pass,
	// the rest.
	RunStopped RunState = "stopped"
)

// Finished reports whether the run is over (until a Retry).
func (s RunState) Finished() bool { return s != RunRunning }

// TenantState is the status of one tenant within a run.
type TenantState string

// Tenant states.
const (
	// TenantPending: not started yet, or waiting for a free slot or for a
	// retry after a transient failure (Reason says which).
	TenantPending TenantState = "pending"
	// TenantRunning: migrating now.
	TenantRunning TenantState = "running"
	// TenantPaused: its instance is over a load threshold (Reason says
	// which); it starts when the instance is healthy again.
	TenantPaused TenantState = "paused"
	// TenantSucceeded: at the run's target version.
	TenantSucceeded TenantState = "succeeded"
	// TenantFailed: a migration failed; Error says why.
	TenantFailed TenantState = "failed"
)

// Finished reports whether the tenant is done within its run.
func (s TenantState) Finished() bool { return s == TenantSucceeded || s == TenantFailed }

// Run phases.
const (
	phaseCanary = "canary"
	phaseMain   = "main"
)
