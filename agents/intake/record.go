package intake

import (
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Status is where a stored request stands.
type Status = controlplane.OutboxStatus

// The statuses of the intake_requests table.
const (
	// StatusPending: stored, its task not (known to be) enqueued yet.
	StatusPending = controlplane.OutboxPending
	// StatusEnqueued: its tenant:onboard task went to the queue.
	StatusEnqueued = controlplane.OutboxEnqueued
	// StatusDone: the provisioning agent onboarded the tenant.
	StatusDone = controlplane.OutboxDone
	// StatusFailed: the provisioning agent gave up; Record.Error says why.
	StatusFailed = controlplane.OutboxFailed
)

// Record is a stored onboarding request, a row of intake_requests.
type Record = controlplane.IntakeRequest

// TaskID is the deterministic id of rec's current tenant:onboard task,
// queue.OnboardAttemptTaskID(rec.ID, rec.TaskAttempt).
func TaskID(rec Record) string { return queue.OnboardAttemptTaskID(rec.ID, rec.TaskAttempt) }

// Accepted is the answer to a stored request. The webhooks answer it as
// JSON; the REST API answers restapi.OnboardingAcceptedJSON, which a test
// of infra/restapi keeps identical to it.
type Accepted struct {
	// RequestID is the stored request's id.
	RequestID int64 `json:"request_id"`
	// TenantID is the tenant being onboarded (the stored request's, which
	// for a duplicate may differ from what the duplicate asked for).
	TenantID string `json:"tenant_id"`
	// TaskID is the tenant:onboard task id.
	TaskID string `json:"task_id"`
	// Status is the request's status after this intake.
	Status Status `json:"status"`
	// Duplicate is true when the request repeated one already stored (same
	// delivery, same ticket, or the tenant's onboarding already in flight);
	// nothing new was stored.
	Duplicate bool `json:"duplicate"`
}

func acceptedOf(r Record, duplicate bool) Accepted {
	return Accepted{RequestID: r.ID, TenantID: r.TenantID, TaskID: TaskID(r), Status: r.Status, Duplicate: duplicate}
}
