package alerts

import (
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Status of an alert.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is an alert as the API, the CLI and the sinks show it.
type Alert struct {
	ID       int64    `json:"id"`
	DedupKey string   `json:"dedup_key"`
	Kind     Kind     `json:"kind"`
	Subject  string   `json:"subject"`
	Instance string   `json:"instance,omitempty"`
	Tenant   string   `json:"tenant,omitempty"`
	Severity Severity `json:"severity"`
	// Status is firing or resolved.
	Status  string         `json:"status"`
	Summary string         `json:"summary"`
	Details map[string]any `json:"details,omitempty"`
	// AffectedTenants: for an instance-level incident, the tenants it
	// affects.
	AffectedTenants []string `json:"affected_tenants,omitempty"`
	// InhibitedBy is the id of the instance_down alert that muted this
	// one (it may have resolved since).
	InhibitedBy   int64      `json:"inhibited_by,omitempty"`
	StartedAt     time.Time  `json:"started_at"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	NotifiedAt    *time.Time `json:"notified_at,omitempty"`
	Notifications int        `json:"notifications"`
	AckedAt       *time.Time `json:"acked_at,omitempty"`
	AckedBy       string     `json:"acked_by,omitempty"`
}

func viewAlert(a controlplane.Alert) Alert {
	status := StatusFiring
	if !a.Open() {
		status = StatusResolved
	}
	return Alert{
		ID: a.ID, DedupKey: a.DedupKey, Kind: Kind(a.Kind), Subject: a.Subject, Instance: a.InstanceID, Tenant: a.TenantID,
		Severity: Severity(a.Severity), Status: status, Summary: a.Summary, Details: a.Details,
		AffectedTenants: a.AffectedTenants, InhibitedBy: a.InhibitedBy, StartedAt: a.StartedAt, LastSeenAt: a.LastSeenAt,
		ResolvedAt: a.ResolvedAt, NotifiedAt: a.NotifiedAt, Notifications: a.Notifications, AckedAt: a.AckedAt, AckedBy: a.AckedBy,
	}
}

// Silence mutes the notifications of a subject until EndsAt.
type Silence struct {
	ID int64 `json:"id"`
	// Subject is an alert subject, an instance id or a tenant id.
	Subject string `json:"subject"`
	// Kind narrows the silence to one kind; empty: all.
	Kind      Kind      `json:"kind,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	EndsAt    time.Time `json:"ends_at"`
}

func viewSilence(s controlplane.AlertSilence) Silence {
	return Silence{ID: s.ID, Subject: s.Subject, Kind: Kind(s.Kind), Reason: s.Reason, CreatedBy: s.CreatedBy,
		CreatedAt: s.CreatedAt, EndsAt: s.EndsAt}
}
