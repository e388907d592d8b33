// Package batch runs tenant batch jobs: a job kind is a Go function
// registered by name that runs for one tenant, through tenants.Pools at
// batch priority and scoped to that tenant exactly like application
// traffic, on sessions that log in as the tenant's own role
// (sessions.TenantPools), so nothing the tenant planted on its objects can
// take the job anywhere else.
//
// Runs are staggered: each tenant has a slot, FNV-1a-32 of its id modulo
// 30 (Slot), and a kind's period (default one hour) starts the tenant's run
// at slot × window/30 past the period's start (window default 30 minutes:
// an hourly job runs at minute `slot`). The scheduler role enqueues one
// batch:run task per kind, tenant and run time with a deterministic task
// id, so twin schedulers and restarts never double a run, and a restarted
// scheduler catches up the runs it missed in the current period. Each run's
// start, end, outcome and error are kept in the control plane
// (controlplane.Store.StartBatchRun and FinishBatchRun).
//
// One real job ships: ComplianceSnapshot, recording each tenant's table
// sizes and exact row counts.
package batch
