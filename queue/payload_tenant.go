package queue

import (
	"errors"
	"fmt"
	"time"
)

// OnboardPayload asks the provisioning agent to onboard the tenant of one
// stored intake request. The request row in the control plane is the
// source of truth; the payload only names it and carries what the agent
// needs to start.
type OnboardPayload struct {
	// RequestID is the intake request (outbox row) id.
	RequestID int64 `json:"request_id"`
	// TenantID is the requested tenant id (already validated at intake).
	TenantID string `json:"tenant_id"`
}

// Validate implements Payload.
func (p OnboardPayload) Validate() error {
	if p.RequestID <= 0 {
		return errors.New("request_id must be positive")
	}
	if p.TenantID == "" {
		return errors.New("tenant_id is required")
	}
	return nil
}

// OnboardTaskID is the deterministic task id of an intake request's
// onboarding, so re-enqueues (reconciler, retries) collapse into one task.
func OnboardTaskID(requestID int64) string { return fmt.Sprintf("onboard:%d", requestID) }

// OnboardAttemptTaskID is the id of attempt n of intake request
// requestID's tenant:onboard task: OnboardTaskID for the first,
// "onboard:<id>:attempt:<n>" after. Redis keeps a finished task's id for a
// day (DefaultRetention), so a new attempt needs a new id.
func OnboardAttemptTaskID(requestID int64, n int) string {
	if n <= 1 {
		return OnboardTaskID(requestID)
	}
	return fmt.Sprintf("%s:attempt:%d", OnboardTaskID(requestID), n)
}

// OffboardPayload asks the provisioning agent to offboard (or purge) a
// tenant. The stored request (agents/offboard) is the source of truth; a
// payload without RequestID comes from a fleet that had no offboarding
// outbox, and the agent records it before acting on it.
type OffboardPayload struct {
	// RequestID is the offboarding request (outbox row) id.
	RequestID int64 `json:"request_id,omitempty"`
	// TenantID is the tenant to offboard.
	TenantID string `json:"tenant_id"`
	// Drop drops the schema or database instead of archiving it.
	Drop bool `json:"drop"`
	// RequestedBy names who asked, for the audit log.
	RequestedBy string `json:"requested_by"`
}

// Validate implements Payload.
func (p OffboardPayload) Validate() error {
	if p.TenantID == "" {
		return errors.New("tenant_id is required")
	}
	if p.RequestID < 0 {
		return errors.New("request_id must not be negative")
	}
	return nil
}

// InstancePayload names an instance for instance:create and
// instance:check.
type InstancePayload struct {
	// InstanceID is the control-plane instance id.
	InstanceID string `json:"instance_id"`
	// Attempt counts instance:check polls, to bound them.
	Attempt int `json:"attempt,omitempty"`
}

// Validate implements Payload.
func (p InstancePayload) Validate() error {
	if p.InstanceID == "" {
		return errors.New("instance_id is required")
	}
	if p.Attempt < 0 {
		return errors.New("attempt must not be negative")
	}
	return nil
}

// InstanceCheckDelay is how long an instance:check waits before polling a
// provider operation again.
const InstanceCheckDelay = 15 * time.Second

// MigratePayload asks the migration runner to migrate one tenant within a
// run.
type MigratePayload struct {
	// RunID is the migration run.
	RunID int64 `json:"run_id"`
	// TenantID is the tenant to migrate.
	TenantID string `json:"tenant_id"`
}

// Validate implements Payload.
func (p MigratePayload) Validate() error {
	if p.RunID <= 0 {
		return errors.New("run_id must be positive")
	}
	if p.TenantID == "" {
		return errors.New("tenant_id is required")
	}
	return nil
}

// MigrateTaskID is the deterministic task id of one tenant in one run.
func MigrateTaskID(runID int64, tenantID string) string {
	return fmt.Sprintf("migrate:%d:%s", runID, tenantID)
}
