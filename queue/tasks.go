// Package queue holds the fleet's work as Asynq tasks: the task types and
// their typed payloads, the queues and their weights, the client that
// enqueues with deterministic task ids, the worker server with its
// middleware, and the cron scheduler.
package queue

import "time"

// Task types, named noun:verb.
const (
	// TypeTenantOnboard provisions a tenant from a stored intake request.
	TypeTenantOnboard = "tenant:onboard"
	// TypeTenantOffboard removes a tenant's route and access and archives
	// or drops its data, for one stored offboarding request.
	TypeTenantOffboard = "tenant:offboard"
	// TypeTenantPurge drops an offboarded tenant's archived schemas and its
	// role, for one stored purge request.
	TypeTenantPurge = "tenant:purge"
	// TypeInstanceCreate asks the provider for a new instance.
	TypeInstanceCreate = "instance:create"
	// TypeInstanceCheck polls a provider operation that is still running.
	TypeInstanceCheck = "instance:check"
	// TypeMigrateTenant migrates one tenant within a fleet migration run.
	TypeMigrateTenant = "migrate:tenant"
	// TypeHealthSweep checks one instance (payload HealthSweepPayload); the
	// scheduler enqueues one per instance every FLEET_HEALTH_INTERVAL.
	TypeHealthSweep = "health:sweep"
	// TypePoolWatch reads the pool statistics every process publishes and
	// looks for exhausted pools (payload PoolWatchPayload); the scheduler
	// enqueues one every FLEET_POOL_WATCH_INTERVAL.
	TypePoolWatch = "pool:watch"
	// TypeCostAnalyze analyses query patterns for recommendations (payload
	// CostAnalyzePayload); the scheduler enqueues one a day.
	TypeCostAnalyze = "cost:analyze"
	// TypeBatchRun runs one batch job kind for one tenant in its staggered
	// slot (payload BatchRunPayload).
	TypeBatchRun = "batch:run"
	// TypeOutboxReconcile re-enqueues intake requests that are not finished.
	TypeOutboxReconcile = "outbox:reconcile"
	// TypeOffboardReconcile re-enqueues offboarding and purge requests that
	// are not finished.
	TypeOffboardReconcile = "offboard:reconcile"
)

// Queue names.
const (
	// QueueCritical carries onboarding.
	QueueCritical = "critical"
	// QueueDefault carries instance operations and everything unclassified.
	QueueDefault = "default"
	// QueueMaintenance carries migrations and batch jobs.
	QueueMaintenance = "maintenance"
	// QueueLow carries cost analysis.
	QueueLow = "low"
)

// Weights are the relative shares of worker attention each queue gets.
func Weights() map[string]int {
	return map[string]int{QueueCritical: 6, QueueDefault: 3, QueueMaintenance: 2, QueueLow: 1}
}

// DefaultRetention is how long a finished task's id is kept, so a repeated
// enqueue with the same deterministic id within it collapses into one task.
// Jira retries a webhook for about 30 minutes; a day covers that with room.
const DefaultRetention = 24 * time.Hour
