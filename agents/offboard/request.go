package offboard

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Action is what a request does to the tenant's data.
type Action = controlplane.OffboardAction

// The actions of offboard_requests.
const (
	// ActionArchive revokes access and renames the tenant's schema aside
	// (restorable by a re-onboarding).
	ActionArchive = controlplane.OffboardArchive
	// ActionDrop revokes access and drops the tenant's schema, every
	// archive of it and its role (a dedicated tenant's instance too).
	ActionDrop = controlplane.OffboardDrop
	// ActionPurge does what ActionDrop does, for a tenant already
	// offboarded: its archives and role go, its audit history stays.
	ActionPurge = controlplane.OffboardPurge
)

// TaskType is the task type that carries out a.
func TaskType(a Action) string {
	if a == ActionPurge {
		return queue.TypeTenantPurge
	}
	return queue.TypeTenantOffboard
}

// Audit log actions.
const (
	// AuditOffboard is the audit action of offboardings (archive, drop).
	AuditOffboard = controlplane.AuditOffboard
	// AuditPurge is the audit action of purges.
	AuditPurge = controlplane.AuditPurge
)

// Status is where a stored request stands.
type Status = controlplane.OutboxStatus

// The statuses of offboard_requests.
const (
	// StatusPending: stored, its task not (known to be) enqueued yet.
	StatusPending = controlplane.OutboxPending
	// StatusEnqueued: its task went to the queue.
	StatusEnqueued = controlplane.OutboxEnqueued
	// StatusDone: the provisioning agent finished it.
	StatusDone = controlplane.OutboxDone
	// StatusFailed: it failed for good; Record.Error says why. A new
	// request for the tenant tries again.
	StatusFailed = controlplane.OutboxFailed
)

// MaxRequestedByLen bounds Request.RequestedBy, in characters.
const MaxRequestedByLen = 200

// Request asks for one tenant to be offboarded or purged.
type Request struct {
	// TenantID is the tenant; a slug checked by tenants.ValidateID.
	// Required.
	TenantID string
	// Action is what to do. Default ActionArchive.
	Action Action
	// RequestedBy names who asked, for the audit log. Default "unknown".
	RequestedBy string
}

// Errors of the package.
var (
	// ErrInvalidRequest marks a request rejected before any SQL ran.
	ErrInvalidRequest = errors.New("offboard: invalid request")
	// ErrConflict marks a request the tenant's state does not allow (it is
	// being onboarded, already offboarded, another action is in flight).
	ErrConflict = errors.New("offboard: conflict")
	// ErrNotFound marks a request id that is not stored.
	ErrNotFound = controlplane.ErrOffboardRequestNotFound
)

// normalize fills r's defaults and validates it; it runs before any SQL.
func (r Request) normalize() (Request, error) {
	if err := tenants.ValidateID(r.TenantID); err != nil {
		return r, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if r.Action == "" {
		r.Action = ActionArchive
	}
	if !r.Action.Valid() {
		return r, fmt.Errorf("%w: action must be archive, drop or purge, got %.40q", ErrInvalidRequest, string(r.Action))
	}
	r.RequestedBy = strings.TrimSpace(r.RequestedBy)
	if r.RequestedBy == "" {
		r.RequestedBy = "unknown"
	}
	if !utf8.ValidString(r.RequestedBy) || strings.ContainsFunc(r.RequestedBy, unicode.IsControl) ||
		utf8.RuneCountInString(r.RequestedBy) > MaxRequestedByLen {
		return r, fmt.Errorf("%w: requested_by must be valid UTF-8 without control characters, at most %d characters",
			ErrInvalidRequest, MaxRequestedByLen)
	}
	return r, nil
}

// Record is a stored request, a row of offboard_requests.
type Record = controlplane.OffboardRequest

// TaskID is the deterministic task id of offboarding request id, so
// re-enqueues (reconciler, retried calls) collapse into one task.
func TaskID(id int64) string { return fmt.Sprintf("offboard:%d", id) }

// Accepted is the answer to a stored request.
type Accepted struct {
	// RequestID is the stored request's id.
	RequestID int64
	// TenantID is the tenant.
	TenantID string
	// Action is the stored request's action.
	Action Action
	// TaskID is its task id.
	TaskID string
	// Status is the request's status after this call.
	Status Status
	// Duplicate is true when the request repeated one already stored (in
	// flight, or the one that offboarded the tenant); nothing new was
	// stored.
	Duplicate bool
}

func acceptedOf(r Record, duplicate bool) Accepted {
	return Accepted{RequestID: r.ID, TenantID: r.TenantID, Action: r.Action, TaskID: TaskID(r.ID), Status: r.Status, Duplicate: duplicate}
}
