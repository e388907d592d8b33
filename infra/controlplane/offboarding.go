package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Errors of the offboarding outbox (offboard_requests, tenant_archives).
var (
	// ErrOffboardRequestNotFound marks an offboarding request id that is
	// not stored.
	ErrOffboardRequestNotFound = errors.New("offboard: request not found")
	// ErrNoTenantArchive means a tenant has no archived schema to restore.
	ErrNoTenantArchive = errors.New("offboard: no archived schema to restore")
)

// OffboardAction is what an offboarding request does to the tenant's data.
type OffboardAction string

// The actions of offboard_requests.
const (
	// OffboardArchive revokes access and renames the tenant's schema aside
	// (restorable by a re-onboarding).
	OffboardArchive OffboardAction = "archive"
	// OffboardDrop revokes access and drops the tenant's schema, every
	// archive of it and its role (a dedicated tenant's instance too).
	OffboardDrop OffboardAction = "drop"
	// OffboardPurge does what OffboardDrop does, for a tenant already
	// offboarded: its archives and role go, its audit history stays.
	OffboardPurge OffboardAction = "purge"
)

// Audit log actions of offboarding requests.
const (
	// AuditOffboard is the audit action of offboardings (archive, drop).
	AuditOffboard = "tenant.offboard"
	// AuditPurge is the audit action of purges.
	AuditPurge = "tenant.purge"
)

// Valid reports whether a is a known action.
func (a OffboardAction) Valid() bool {
	return a == OffboardArchive || a == OffboardDrop || a == OffboardPurge
}

// Destroys reports whether a deletes the tenant's data (drop, purge).
func (a OffboardAction) Destroys() bool { return a == OffboardDrop || a == OffboardPurge }

// AuditAction is the audit log action of requests with action a.
func (a OffboardAction) AuditAction() string {
	if a == OffboardPurge {
		return AuditPurge
	}
	return AuditOffboard
}

// OffboardRequest is a stored offboarding or purge request, a row of
// offboard_requests.
type OffboardRequest struct {
	ID          int64
	TenantID    string
	Action      OffboardAction
	RequestedBy string
	OutboxState
}

// RequestID is the row's id (for the outbox mechanism).
func (r OffboardRequest) RequestID() int64 { return r.ID }

var offboardRequests = table[OffboardRequest]{
	name:    "offboard_requests",
	columns: `id, tenant_id, action, requested_by, ` + outboxStateColumns,
	scan: func(row pgx.Row) (OffboardRequest, error) {
		var r OffboardRequest
		err := row.Scan(append([]any{&r.ID, &r.TenantID, &r.Action, &r.RequestedBy}, r.scanState()...)...)
		return r, err
	},
	notFound: ErrOffboardRequestNotFound,
}

// InflightOffboardRequest returns the tenant's unfinished request; false
// when it has none.
func (s *Store) InflightOffboardRequest(ctx context.Context, tenantID string) (OffboardRequest, bool, error) {
	return offboardRequests.one(ctx, s.db, `SELECT `+offboardRequests.columns+` FROM offboard_requests
WHERE tenant_id = $1 AND status IN ('pending', 'enqueued')`, tenantID)
}

// LatestOffboardRequest returns the tenant's most recent request; false
// when it has none.
func (s *Store) LatestOffboardRequest(ctx context.Context, tenantID string) (OffboardRequest, bool, error) {
	return offboardRequests.one(ctx, s.db, `SELECT `+offboardRequests.columns+` FROM offboard_requests
WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, tenantID)
}

// NewOffboardRequest is an offboarding request to store, validated by the
// caller (agents/offboard).
type NewOffboardRequest struct {
	TenantID    string
	Action      OffboardAction
	RequestedBy string
}

// InsertOffboardRequest stores r. Run it in the transaction that locked
// the tenant (LockTenant), marks it offboarding and writes the audit
// entry.
func (s *Store) InsertOffboardRequest(ctx context.Context, r NewOffboardRequest) (OffboardRequest, error) {
	rec, _, err := offboardRequests.one(ctx, s.db, `INSERT INTO offboard_requests (tenant_id, action, requested_by)
VALUES ($1, $2, $3) RETURNING `+offboardRequests.columns, r.TenantID, r.Action, r.RequestedBy)
	return rec, err
}

// OffboardRequest returns stored request id, or an error matching
// ErrOffboardRequestNotFound.
func (s *Store) OffboardRequest(ctx context.Context, id int64) (OffboardRequest, error) {
	return offboardRequests.get(ctx, s.db, id, false)
}

// MarkOffboardEnqueued is MarkIntakeEnqueued for offboarding request id.
func (s *Store) MarkOffboardEnqueued(ctx context.Context, id int64, alreadyQueued bool) (OutboxStatus, bool, error) {
	return offboardRequests.markEnqueued(ctx, s.db, id, alreadyQueued)
}

// UnfinishedOffboardRequests returns page p of the unfinished requests, by
// id, for the reconciler.
func (s *Store) UnfinishedOffboardRequests(ctx context.Context, p UnfinishedPage) ([]OffboardRequest, error) {
	return offboardRequests.unfinished(ctx, s.db, p)
}

// CompleteOffboardRequest locks request id and marks it done, returning it
// as it was; false when it was done already (nothing written). Run it in
// the transaction that marks the tenant offboarded.
func (s *Store) CompleteOffboardRequest(ctx context.Context, id int64) (OffboardRequest, bool, error) {
	rec, err := offboardRequests.get(ctx, s.db, id, true)
	if err != nil || rec.Status == OutboxDone {
		return rec, false, err
	}
	return rec, true, offboardRequests.finish(ctx, s.db, id, OutboxDone, "")
}

// FailOffboardRequest locks request id and marks it failed with reason
// (default "failed"). It returns the request with its reason; false when
// it was finished already (left alone). Run it in a transaction.
func (s *Store) FailOffboardRequest(ctx context.Context, id int64, reason string) (OffboardRequest, bool, error) {
	rec, err := offboardRequests.get(ctx, s.db, id, true)
	if err != nil || rec.Status.Finished() {
		return rec, false, err
	}
	if reason == "" {
		reason = "failed"
	}
	if err := offboardRequests.finish(ctx, s.db, id, OutboxFailed, reason); err != nil {
		return rec, false, err
	}
	rec.Error = reason
	return rec, true, nil
}

// OffboardRequestedSince reports whether tenantID was asked to be
// offboarded (or purged) at or after since: the provisioning agent refuses
// an onboarding request older than that.
func (s *Store) OffboardRequestedSince(ctx context.Context, tenantID string, since time.Time) (bool, error) {
	var yes bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM offboard_requests WHERE tenant_id = $1 AND created_at >= $2)`,
		tenantID, since).Scan(&yes); err != nil {
		return false, fmt.Errorf("controlplane: read offboardings of %s: %w", tenantID, err)
	}
	return yes, nil
}

// TenantArchive is a schema an offboarding renamed aside, a row of
// tenant_archives.
type TenantArchive struct {
	ID       int64
	TenantID string
	// RequestID is the offboarding that made it.
	RequestID  int64
	InstanceID string
	Database   string
	// Schema is the archived schema's name.
	Schema string
	// ArchivedAt is set once the offboarding finished with the schema
	// renamed; before, the name is only planned.
	ArchivedAt *time.Time
	// RestoreRequestID is the intake request restoring it, once claimed.
	RestoreRequestID *int64
	RestoredAt       *time.Time
	PurgedAt         *time.Time
}

var tenantArchives = table[TenantArchive]{
	name: "tenant_archives",
	columns: `tenant_archives.id, tenant_id, offboard_request_id, instance_id, database_name, schema_name,
	archived_at, restore_request_id, restored_at, purged_at`,
	scan: func(row pgx.Row) (TenantArchive, error) {
		var a TenantArchive
		err := row.Scan(&a.ID, &a.TenantID, &a.RequestID, &a.InstanceID, &a.Database, &a.Schema,
			&a.ArchivedAt, &a.RestoreRequestID, &a.RestoredAt, &a.PurgedAt)
		return a, err
	},
}

// PlanTenantArchive records the name offboarding request a.RequestID
// renames the tenant's schema to, before it does: a retry finds the plan
// and uses the same name. When a plan exists already it is returned
// unchanged.
func (s *Store) PlanTenantArchive(ctx context.Context, a TenantArchive) (TenantArchive, error) {
	_, err := s.db.Exec(ctx, `INSERT INTO tenant_archives
		(tenant_id, offboard_request_id, instance_id, database_name, schema_name)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (offboard_request_id) DO NOTHING`,
		a.TenantID, a.RequestID, a.InstanceID, a.Database, a.Schema)
	if err != nil {
		return TenantArchive{}, fmt.Errorf("controlplane: plan archive of %s: %w", a.TenantID, err)
	}
	got, ok, err := s.PlannedTenantArchive(ctx, a.RequestID)
	if err == nil && !ok {
		err = fmt.Errorf("controlplane: plan archive of %s: vanished", a.TenantID)
	}
	return got, err
}

// PlannedTenantArchive returns the archive offboarding request requestID
// planned; false when it planned none.
func (s *Store) PlannedTenantArchive(ctx context.Context, requestID int64) (TenantArchive, bool, error) {
	return tenantArchives.one(ctx, s.db, `SELECT `+tenantArchives.columns+` FROM tenant_archives
		WHERE offboard_request_id = $1`, requestID)
}

// MarkTenantArchived records that offboarding request requestID's schema
// was renamed.
func (s *Store) MarkTenantArchived(ctx context.Context, requestID int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenant_archives SET archived_at = coalesce(archived_at, now())
		WHERE offboard_request_id = $1`, requestID); err != nil {
		return fmt.Errorf("controlplane: mark archive of request %d: %w", requestID, err)
	}
	return nil
}

// TenantArchives returns the tenant's archives that may still exist
// (neither restored nor purged; planned ones included), oldest first.
func (s *Store) TenantArchives(ctx context.Context, tenantID string) ([]TenantArchive, error) {
	return tenantArchives.list(ctx, s.db, `SELECT `+tenantArchives.columns+` FROM tenant_archives
		WHERE tenant_id = $1 AND restored_at IS NULL AND purged_at IS NULL ORDER BY id`, tenantID)
}

// MarkTenantArchivesPurged records that every archive of the tenant that
// may still have existed is dropped.
func (s *Store) MarkTenantArchivesPurged(ctx context.Context, tenantID string) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenant_archives SET purged_at = now()
		WHERE tenant_id = $1 AND restored_at IS NULL AND purged_at IS NULL`, tenantID); err != nil {
		return fmt.Errorf("controlplane: mark archives of %s purged: %w", tenantID, err)
	}
	return nil
}

// claimArchiveSQL picks the archive intake request $2 restores: the one it
// claimed already (restored or not), else (when $3) the newest archived one
// nobody restored, which it claims.
var claimArchiveSQL = `WITH pick AS (
	SELECT id FROM tenant_archives
	WHERE tenant_id = $1 AND archived_at IS NOT NULL AND purged_at IS NULL
	  AND (restore_request_id = $2 OR ($3 AND restored_at IS NULL))
	ORDER BY restore_request_id = $2 DESC NULLS LAST, id DESC
	LIMIT 1
	FOR UPDATE
)
UPDATE tenant_archives SET restore_request_id = $2
FROM pick WHERE tenant_archives.id = pick.id
RETURNING ` + tenantArchives.columns

// ClaimTenantArchive returns the archive of tenantID that intake request
// requestID restores: the one it claimed before (a retry), else, when
// claimNew, the newest archived schema not restored nor purged, which it
// claims. It fails with ErrNoTenantArchive when there is none.
func (s *Store) ClaimTenantArchive(ctx context.Context, tenantID string, requestID int64, claimNew bool) (TenantArchive, error) {
	a, ok, err := tenantArchives.one(ctx, s.db, claimArchiveSQL, tenantID, requestID, claimNew)
	if err == nil && !ok {
		err = fmt.Errorf("%w: tenant %s", ErrNoTenantArchive, tenantID)
	}
	return a, err
}

// MarkTenantArchiveRestored records that archive id is the tenant's schema
// again.
func (s *Store) MarkTenantArchiveRestored(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenant_archives SET restored_at = coalesce(restored_at, now())
		WHERE id = $1`, id); err != nil {
		return fmt.Errorf("controlplane: mark archive %d restored: %w", id, err)
	}
	return nil
}
