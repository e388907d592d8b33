package restapi

import (
	"time"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// The JSON form of every resource of /api/v1, one type per resource; the
// CLI's --json output prints the same types, so the two cannot drift. Each
// type is a schema of docs/openapi.yaml (openapi_test.go checks their
// fields against it). The agents' own types carry no JSON tags.

// TenantJSON is the JSON form of a tenant (schema Tenant).
type TenantJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Tier string `json:"tier"`
	// Isolation is "pooled" or "strict" (docs/tenants.md, "Isolation levels").
	Isolation    string    `json:"isolation"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	Instance     string    `json:"instance"`
	Database     string    `json:"database"`
	Schema       string    `json:"schema"`
	Role         string    `json:"role"`
	RouteVersion int64     `json:"route_version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// TenantView converts a catalog tenant to its JSON form.
func TenantView(t controlplane.Tenant) TenantJSON {
	return TenantJSON{
		ID: t.ID, Name: t.Name, Tier: string(t.Tier), Isolation: string(t.Isolation), Status: string(t.Status), StatusReason: t.StatusReason,
		Instance: t.InstanceID, Database: t.Database, Schema: t.Schema, Role: t.Role,
		RouteVersion: t.RouteVersion, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// TenantListJSON answers GET /api/v1/tenants (schema TenantList).
type TenantListJSON struct {
	Tenants []TenantJSON `json:"tenants"`
}

// InstanceJSON is the JSON form of an instance, with its tenant count
// (schema Instance).
type InstanceJSON struct {
	ID             string    `json:"id"`
	Provider       string    `json:"provider"`
	Tier           string    `json:"tier"`
	Status         string    `json:"status"`
	StatusReason   string    `json:"status_reason,omitempty"`
	Host           string    `json:"host"`
	Port           int       `json:"port"`
	Database       string    `json:"database"`
	ProviderRef    string    `json:"provider_ref,omitempty"`
	Tenants        int       `json:"tenants"`
	MaxTenants     int       `json:"max_tenants"`
	MaxConnections int       `json:"max_connections"`
	CreatedAt      time.Time `json:"created_at"`
}

// InstanceView converts a catalog instance and its tenant count.
func InstanceView(i controlplane.Instance, tenantCount int) InstanceJSON {
	return InstanceJSON{
		ID: i.ID, Provider: i.Provider, Tier: string(i.Tier), Status: string(i.Status), StatusReason: i.StatusReason,
		Host: i.Host, Port: i.Port, Database: i.Database, ProviderRef: i.ProviderRef,
		Tenants: tenantCount, MaxTenants: i.MaxTenants, MaxConnections: i.MaxConnections, CreatedAt: i.CreatedAt,
	}
}

// InstanceListJSON answers GET /api/v1/instances (schema InstanceList).
type InstanceListJSON struct {
	Instances []InstanceJSON `json:"instances"`
}

// OnboardingJSON is the JSON form of a stored onboarding request, a row of
// the intake outbox (schema Onboarding).
type OnboardingJSON struct {
	RequestID   int64      `json:"request_id"`
	Source      string     `json:"source"`
	DeliveryID  string     `json:"delivery_id,omitempty"`
	Ticket      string     `json:"ticket,omitempty"`
	TenantID    string     `json:"tenant_id"`
	Name        string     `json:"name"`
	Tier        string     `json:"tier"`
	Isolation   string     `json:"isolation"`
	RequestedBy string     `json:"requested_by"`
	Restore     bool       `json:"restore,omitempty"`
	Status      string     `json:"status"`
	Error       string     `json:"error,omitempty"`
	Attempts    int        `json:"attempts"`
	TaskAttempt int        `json:"task_attempt"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// OnboardingView converts a stored onboarding request.
func OnboardingView(r intake.Record) OnboardingJSON {
	return OnboardingJSON{
		RequestID: r.ID, Source: string(r.Source), DeliveryID: r.DeliveryID, Ticket: r.TicketKey,
		TenantID: r.TenantID, Name: r.Name, Tier: string(r.Tier), Isolation: string(r.Isolation),
		RequestedBy: r.RequestedBy, Restore: r.Restore,
		Status: string(r.Status), Error: r.Error, Attempts: r.Attempts, TaskAttempt: r.TaskAttempt,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt,
	}
}

// OnboardingAcceptedJSON answers an onboarding request or retry with 202
// (schema OnboardingAccepted). The webhooks answer it too.
type OnboardingAcceptedJSON struct {
	RequestID int64  `json:"request_id"`
	TenantID  string `json:"tenant_id"`
	TaskID    string `json:"task_id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

// OnboardingAcceptedView converts the intake's answer.
func OnboardingAcceptedView(a intake.Accepted) OnboardingAcceptedJSON {
	return OnboardingAcceptedJSON{RequestID: a.RequestID, TenantID: a.TenantID, TaskID: a.TaskID,
		Status: string(a.Status), Duplicate: a.Duplicate}
}

// OffboardingJSON is the JSON form of a stored offboarding request
// (schema Offboarding).
type OffboardingJSON struct {
	RequestID   int64      `json:"request_id"`
	TenantID    string     `json:"tenant_id"`
	Action      string     `json:"action"`
	RequestedBy string     `json:"requested_by"`
	Status      string     `json:"status"`
	Error       string     `json:"error,omitempty"`
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// OffboardingView converts a stored offboarding request.
func OffboardingView(r offboard.Record) OffboardingJSON {
	return OffboardingJSON{
		RequestID: r.ID, TenantID: r.TenantID, Action: string(r.Action), RequestedBy: r.RequestedBy,
		Status: string(r.Status), Error: r.Error, Attempts: r.Attempts,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt,
	}
}

// OffboardingAcceptedJSON answers an offboarding or purge with 202, with
// where to follow it (schema OffboardingAccepted).
type OffboardingAcceptedJSON struct {
	RequestID int64  `json:"request_id"`
	TenantID  string `json:"tenant_id"`
	Action    string `json:"action"`
	TaskID    string `json:"task_id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
	URL       string `json:"url"`
}

// OffboardingAcceptedView converts the outbox's answer.
func OffboardingAcceptedView(a offboard.Accepted) OffboardingAcceptedJSON {
	return OffboardingAcceptedJSON{RequestID: a.RequestID, TenantID: a.TenantID, Action: string(a.Action),
		TaskID: a.TaskID, Status: string(a.Status), Duplicate: a.Duplicate, URL: offboardingURL(a.RequestID)}
}

// MigrationRunJSON is the JSON form of a migration run and where each of
// its tenants stands (schema MigrationRun); `fleet migrate status --json`
// prints it.
type MigrationRunJSON struct {
	ID            int64                 `json:"id"`
	Status        string                `json:"status"`
	Phase         string                `json:"phase"`
	Reason        string                `json:"reason,omitempty"`
	TargetVersion int64                 `json:"target_version"`
	Instance      string                `json:"instance,omitempty"`
	Concurrency   int                   `json:"concurrency"`
	Canary        int                   `json:"canary"`
	Thresholds    MigrationThresholds   `json:"thresholds"`
	RequestedBy   string                `json:"requested_by,omitempty"`
	CreatedAt     time.Time             `json:"created_at"`
	FinishedAt    *time.Time            `json:"finished_at,omitempty"`
	Counts        MigrationCounts       `json:"counts"`
	Tenants       []MigrationTenantJSON `json:"tenants,omitempty"`
}

// MigrationThresholds are a run's load limits (schema MigrationThresholds).
type MigrationThresholds struct {
	CPUPercent float64 `json:"cpu_percent"`
	// ReplicaLagNS is in nanoseconds.
	ReplicaLagNS int64 `json:"replica_lag_ns"`
}

// MigrationCounts are a run's tenants by state (schema MigrationCounts).
type MigrationCounts struct {
	Total     int `json:"total"`
	Pending   int `json:"pending"`
	Running   int `json:"running"`
	Paused    int `json:"paused"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// MigrationTenantJSON is one tenant's result within a run (schema
// MigrationTenant).
type MigrationTenantJSON struct {
	TenantID      string `json:"tenant_id"`
	Instance      string `json:"instance"`
	Canary        bool   `json:"canary,omitempty"`
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	VersionBefore *int64 `json:"version_before"`
	VersionAfter  *int64 `json:"version_after"`
	Attempts      int    `json:"attempts"`
	// DurationNS is the wall time of the last attempt, in nanoseconds.
	DurationNS int64      `json:"duration_ns"`
	Error      string     `json:"error,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// MigrationRunView converts a run's status.
func MigrationRunView(st migrate.RunStatus) MigrationRunJSON {
	c := st.Counts
	out := MigrationRunJSON{
		ID: st.ID, Status: string(st.Status), Phase: st.Phase, Reason: st.Reason, TargetVersion: st.TargetVersion,
		Instance: st.Instance, Concurrency: st.Concurrency, Canary: st.Canary,
		Thresholds:  MigrationThresholds{CPUPercent: st.Thresholds.CPUPercent, ReplicaLagNS: int64(st.Thresholds.ReplicaLag)},
		RequestedBy: st.RequestedBy, CreatedAt: st.CreatedAt, FinishedAt: st.FinishedAt,
		Counts: MigrationCounts{Total: c.Total, Pending: c.Pending, Running: c.Running, Paused: c.Paused,
			Succeeded: c.Succeeded, Failed: c.Failed},
	}
	for _, t := range st.Tenants {
		out.Tenants = append(out.Tenants, MigrationTenantJSON{
			TenantID: t.TenantID, Instance: t.Instance, Canary: t.Canary, Status: string(t.Status), Reason: t.Reason,
			VersionBefore: t.VersionBefore, VersionAfter: t.VersionAfter, Attempts: t.Attempts,
			DurationNS: int64(t.Duration), Error: t.Error, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt,
		})
	}
	return out
}

// MigrationStartedJSON answers POST /api/v1/migrations with 202 (schema
// MigrationStarted).
type MigrationStartedJSON struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	URL    string `json:"url"`
	// Duplicate is true when the request's Idempotency-Key had started
	// this run before: nothing new was started, Status is the run's now.
	Duplicate bool `json:"duplicate"`
}

// MigrationRetriedJSON answers POST /api/v1/migrations/{id}/retry with 202
// (schema MigrationRetried).
type MigrationRetriedJSON struct {
	ID      int64 `json:"id"`
	Retried int   `json:"retried"`
}

// ErrorJSON is the body of every error answer (schema Error).
type ErrorJSON struct {
	Error string `json:"error"`
}

// InvalidRequestJSON answers an onboarding request that fails validation
// with 422, naming the field at fault (schema InvalidRequest).
type InvalidRequestJSON struct {
	Error  string `json:"error"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// NotRetryableJSON answers a retry of a tenant whose onboarding has not
// failed with 409, naming its latest request when it has one (schema
// NotRetryable).
type NotRetryableJSON struct {
	Error     string `json:"error"`
	TenantID  string `json:"tenant_id"`
	RequestID int64  `json:"request_id,omitempty"`
	TaskID    string `json:"task_id,omitempty"`
	Status    string `json:"status,omitempty"`
}
