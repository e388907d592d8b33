// Package migrate is the fleet migration runner: it rolls the tenant schema
// migration set (package tenants/migrations) across many tenants, parallel
// but throttled.
//
// A run is a row in the control plane (migration_runs) with one row per
// tenant (migration_run_tenants) and one migrate:tenant task per tenant on
// the maintenance queue, each with a deterministic task id. A worker that
// takes a task checks the tenant's instance against the load thresholds
// (pausing the tenant while the instance is busy), takes one of the
// instance's slots from a Redis semaphore shared by every worker of the
// fleet (a sorted set of leases that expire when a worker dies), migrates
// the tenant with the shared Migrator, and records the result. A tenant
// that must wait for long does not hold a worker: its task hands over to a
// follow-up task (see taskid.go) and returns.
//
// The per-tenant advisory lock and version table of tenants/migrations make
// every rerun a no-op for work already done, so a run survives killed
// workers, a wiped Redis or a restarted PostgreSQL: the reconciler (a
// periodic task) enqueues again every unfinished tenant whose task Redis
// lost and closes runs whose tenants are all finished, Resume re-enqueues
// every tenant that is not finished, and Retry re-runs the failed ones.
// StartOnce takes an idempotency key, so a retried request starts one run.
//
// See docs/migrations.md.
package migrate
