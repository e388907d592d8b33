package offboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Archive is a schema an offboarding renamed aside, a row of
// tenant_archives.
type Archive struct {
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

const archiveColumns = `id, tenant_id, offboard_request_id, instance_id, database_name, schema_name,
	archived_at, restore_request_id, restored_at, purged_at`

func scanArchive(row pgx.Row) (Archive, error) {
	var a Archive
	err := row.Scan(&a.ID, &a.TenantID, &a.RequestID, &a.InstanceID, &a.Database, &a.Schema,
		&a.ArchivedAt, &a.RestoreRequestID, &a.RestoredAt, &a.PurgedAt)
	return a, err
}

// PlanArchive records the name offboarding request a.RequestID renames the
// tenant's schema to, before it does: a retry finds the plan and uses the
// same name. When a plan exists already it is returned unchanged.
func PlanArchive(ctx context.Context, db controlplane.DB, a Archive) (Archive, error) {
	_, err := db.Exec(ctx, `INSERT INTO tenant_archives
		(tenant_id, offboard_request_id, instance_id, database_name, schema_name)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (offboard_request_id) DO NOTHING`,
		a.TenantID, a.RequestID, a.InstanceID, a.Database, a.Schema)
	if err != nil {
		return Archive{}, fmt.Errorf("offboard: plan archive of %s: %w", a.TenantID, err)
	}
	got, ok, err := PlannedArchive(ctx, db, a.RequestID)
	if err == nil && !ok {
		err = fmt.Errorf("offboard: plan archive of %s: vanished", a.TenantID)
	}
	return got, err
}

// PlannedArchive returns the archive offboarding request requestID planned,
// if any.
func PlannedArchive(ctx context.Context, db controlplane.DB, requestID int64) (Archive, bool, error) {
	a, err := scanArchive(db.QueryRow(ctx, `SELECT `+archiveColumns+` FROM tenant_archives
		WHERE offboard_request_id = $1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Archive{}, false, nil
	}
	if err != nil {
		return Archive{}, false, fmt.Errorf("offboard: read archive of request %d: %w", requestID, err)
	}
	return a, true, nil
}

// MarkArchivedTx records, in the caller's transaction, that offboarding
// request requestID's schema was renamed.
func MarkArchivedTx(ctx context.Context, tx pgx.Tx, requestID int64) error {
	if _, err := tx.Exec(ctx, `UPDATE tenant_archives SET archived_at = coalesce(archived_at, now())
		WHERE offboard_request_id = $1`, requestID); err != nil {
		return fmt.Errorf("offboard: mark archive of request %d: %w", requestID, err)
	}
	return nil
}

// Archives returns the tenant's archives that may still exist (neither
// restored nor purged; planned ones included), oldest first.
func Archives(ctx context.Context, db controlplane.DB, tenantID string) ([]Archive, error) {
	rows, err := db.Query(ctx, `SELECT `+archiveColumns+` FROM tenant_archives
		WHERE tenant_id = $1 AND restored_at IS NULL AND purged_at IS NULL ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("offboard: list archives of %s: %w", tenantID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Archive, error) { return scanArchive(r) })
	if err != nil {
		return nil, fmt.Errorf("offboard: list archives of %s: %w", tenantID, err)
	}
	return out, nil
}

// MarkPurgedTx records, in the caller's transaction, that every archive of
// the tenant that may still have existed is dropped.
func MarkPurgedTx(ctx context.Context, tx pgx.Tx, tenantID string) error {
	if _, err := tx.Exec(ctx, `UPDATE tenant_archives SET purged_at = now()
		WHERE tenant_id = $1 AND restored_at IS NULL AND purged_at IS NULL`, tenantID); err != nil {
		return fmt.Errorf("offboard: mark archives of %s purged: %w", tenantID, err)
	}
	return nil
}

// claimSQL picks the archive intake request $2 restores: the one it claimed
// already (restored or not), else (when $3) the newest archived one nobody
// restored, which it claims.
const claimSQL = `WITH pick AS (
	SELECT id FROM tenant_archives
	WHERE tenant_id = $1 AND archived_at IS NOT NULL AND purged_at IS NULL
	  AND (restore_request_id = $2 OR ($3 AND restored_at IS NULL))
	ORDER BY restore_request_id = $2 DESC NULLS LAST, id DESC
	LIMIT 1
	FOR UPDATE
)
UPDATE tenant_archives SET restore_request_id = $2
FROM pick WHERE tenant_archives.id = pick.id
RETURNING tenant_archives.id, tenant_id, offboard_request_id, instance_id, database_name, schema_name,
	archived_at, restore_request_id, restored_at, purged_at`

// ClaimForRestore returns the archive of tenantID that intake request
// requestID restores: the one it claimed before (a retry), else, when
// claimNew, the newest archived schema not restored nor purged, which it
// claims. It fails with ErrNoArchive when there is none.
func ClaimForRestore(ctx context.Context, db controlplane.DB, tenantID string, requestID int64, claimNew bool) (Archive, error) {
	a, err := scanArchive(db.QueryRow(ctx, claimSQL, tenantID, requestID, claimNew))
	if errors.Is(err, pgx.ErrNoRows) {
		return Archive{}, fmt.Errorf("%w: tenant %s", ErrNoArchive, tenantID)
	}
	if err != nil {
		return Archive{}, fmt.Errorf("offboard: claim archive of %s: %w", tenantID, err)
	}
	return a, nil
}

// MarkRestored records that archive id is the tenant's schema again.
func MarkRestored(ctx context.Context, db controlplane.DB, id int64) error {
	if _, err := db.Exec(ctx, `UPDATE tenant_archives SET restored_at = coalesce(restored_at, now())
		WHERE id = $1`, id); err != nil {
		return fmt.Errorf("offboard: mark archive %d restored: %w", id, err)
	}
	return nil
}
