package intake

import (
	"fmt"
	"time"

	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Status is where a stored request stands.
type Status string

// The statuses of the intake_requests table.
const (
	// StatusPending: stored, its task not (known to be) enqueued yet.
	StatusPending Status = "pending"
	// StatusEnqueued: its tenant:onboard task went to the queue.
	StatusEnqueued Status = "enqueued"
	// StatusDone: the provisioning agent onboarded the tenant.
	StatusDone Status = "done"
	// StatusFailed: the provisioning agent gave up; Record.Error says why.
	StatusFailed Status = "failed"
)

// Finished reports whether s is final (done or failed).
func (s Status) Finished() bool { return s == StatusDone || s == StatusFailed }

// Record is a stored onboarding request, a row of intake_requests.
type Record struct {
	ID          int64
	Source      Source
	DeliveryID  string
	TicketKey   string
	TenantID    string
	Name        string
	Tier        tenants.Tier
	RequestedBy string
	// Restore: re-onboard an offboarded tenant with its archived schema.
	Restore bool
	Status  Status
	// Error is the failure reason of a failed request.
	Error string
	// Attempts counts the enqueues that put a new task on the queue.
	Attempts int
	// TaskAttempt numbers the request's current task (see TaskID): 1 at
	// first, one more after each retry of the failed request and each
	// re-enqueue of a task that completed without finishing it.
	TaskAttempt int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  *time.Time
}

// TaskID is the deterministic id of the request's current tenant:onboard
// task, OnboardTaskID(r.ID, r.TaskAttempt).
func (r Record) TaskID() string { return OnboardTaskID(r.ID, r.TaskAttempt) }

// OnboardTaskID is the id of attempt n of request id's tenant:onboard
// task: queue.OnboardTaskID(id) ("onboard:<id>") for the first,
// "onboard:<id>:attempt:<n>" after. Redis keeps a finished task's id for a
// day (queue.DefaultRetention), so a new attempt needs a new id.
func OnboardTaskID(id int64, n int) string {
	if n <= 1 {
		return queue.OnboardTaskID(id)
	}
	return fmt.Sprintf("%s:attempt:%d", queue.OnboardTaskID(id), n)
}

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
	return Accepted{RequestID: r.ID, TenantID: r.TenantID, TaskID: r.TaskID(), Status: r.Status, Duplicate: duplicate}
}
