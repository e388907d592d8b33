package offboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

const recordColumns = `id, tenant_id, action, requested_by, status, error, attempts, created_at, updated_at, finished_at`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.TenantID, &r.Action, &r.RequestedBy, &r.Status, &r.Error, &r.Attempts,
		&r.CreatedAt, &r.UpdatedAt, &r.FinishedAt)
	return r, err
}

const (
	inflightSQL = `SELECT ` + recordColumns + ` FROM offboard_requests
WHERE tenant_id = $1 AND status IN ('pending', 'enqueued')`
	latestSQL = `SELECT ` + recordColumns + ` FROM offboard_requests
WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`
	insertSQL = `INSERT INTO offboard_requests (tenant_id, action, requested_by)
VALUES ($1, $2, $3) RETURNING ` + recordColumns
)

// store saves a validated request, or finds the one it repeats, marks the
// tenant offboarding and records the request in the audit log, in tx. The
// tenant's row is locked first, so concurrent requests for one tenant run
// one after the other and a repeat always finds the first.
func store(ctx context.Context, tx pgx.Tx, r Request) (Record, bool, error) {
	tenant, err := controlplane.NewStore(tx).LockTenant(ctx, r.TenantID)
	if err != nil {
		return Record{}, false, fmt.Errorf("offboard: %w", err)
	}
	status := tenant.Status
	inflight, err := scanRecord(tx.QueryRow(ctx, inflightSQL, r.TenantID))
	switch {
	case err == nil && inflight.Action == r.Action:
		return inflight, true, auditRequest(ctx, tx, r, inflight, true)
	case err == nil:
		return Record{}, false, fmt.Errorf("%w: tenant %s: a %s request (%d) is in flight", ErrConflict, r.TenantID, inflight.Action, inflight.ID)
	case !errors.Is(err, pgx.ErrNoRows):
		return Record{}, false, fmt.Errorf("offboard: find request of %s: %w", r.TenantID, err)
	}
	if status == tenants.TenantOffboarded {
		// A repeat of the request that offboarded (or purged) the tenant
		// answers as that request, so a retried call is not an error.
		latest, err := scanRecord(tx.QueryRow(ctx, latestSQL, r.TenantID))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return Record{}, false, fmt.Errorf("offboard: find request of %s: %w", r.TenantID, err)
		}
		if err == nil && latest.Action == r.Action && latest.Status == StatusDone {
			return latest, true, auditRequest(ctx, tx, r, latest, true)
		}
	}
	if err := admits(r.Action, status); err != nil {
		return Record{}, false, fmt.Errorf("%w: tenant %s: %w", ErrConflict, r.TenantID, err)
	}
	rec, err := scanRecord(tx.QueryRow(ctx, insertSQL, r.TenantID, r.Action, r.RequestedBy))
	if err != nil {
		return Record{}, false, fmt.Errorf("offboard: store request of %s: %w", r.TenantID, err)
	}
	reason := string(r.Action) + " requested by " + r.RequestedBy
	// Out of routing: only active tenants resolve, and the route version
	// tells caches the route changed.
	if _, err := controlplane.NewStore(tx).SetTenantStatus(ctx, r.TenantID, tenants.TenantOffboarding, reason); err != nil {
		return Record{}, false, fmt.Errorf("offboard: mark tenant %s offboarding: %w", r.TenantID, err)
	}
	return rec, false, auditRequest(ctx, tx, r, rec, false)
}

// admits says whether a tenant in status may get a request with action.
func admits(action Action, status tenants.TenantStatus) error {
	switch {
	case status == tenants.TenantProvisioning:
		return errors.New("it is being onboarded; offboard it once that ends")
	case action == ActionPurge && status != tenants.TenantOffboarded && status != tenants.TenantOffboarding:
		return fmt.Errorf("it is %s; offboard it before purging it", status)
	case action != ActionPurge && status == tenants.TenantOffboarded:
		return errors.New("it is offboarded already; purge it to delete its archived data")
	}
	return nil
}

func auditRequest(ctx context.Context, db audit.Execer, r Request, rec Record, duplicate bool) error {
	outcome := audit.OutcomeAccepted
	if duplicate {
		outcome = audit.OutcomeDuplicate
	}
	return audit.Record(ctx, db, audit.Entry{
		Actor: r.RequestedBy, Action: rec.Action.AuditAction(), TenantID: rec.TenantID, Outcome: outcome,
		Details: map[string]any{"request_id": rec.ID, "action": string(rec.Action)},
	})
}

const getSQL = `SELECT ` + recordColumns + ` FROM offboard_requests WHERE id = $1`

// Get returns stored request id, read through db (a pool or a
// transaction), or an error matching ErrNotFound.
func Get(ctx context.Context, db controlplane.DB, id int64) (Record, error) {
	return get(ctx, db, id, false)
}

func get(ctx context.Context, db controlplane.DB, id int64, lock bool) (Record, error) {
	q := getSQL
	if lock {
		q += " FOR UPDATE"
	}
	rec, err := scanRecord(db.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("offboard: get request %d: %w", id, err)
	}
	return rec, nil
}

// markEnqueuedSQL records an enqueue that put a new task on the queue.
const markEnqueuedSQL = `UPDATE offboard_requests
SET status = 'enqueued', attempts = attempts + 1, updated_at = now()
WHERE id = $1 AND status IN ('pending', 'enqueued')
RETURNING status`

// markSeenSQL records that the request's task is on the queue already
// (the enqueue was a duplicate), without counting an attempt.
const markSeenSQL = `UPDATE offboard_requests
SET status = 'enqueued', updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING status`

const finishSQL = `UPDATE offboard_requests
SET status = $2, error = $3, finished_at = now(), updated_at = now()
WHERE id = $1`

// MarkDoneTx marks request id done inside the caller's transaction (the
// provisioning agent commits it with the tenant's final status) and writes
// the audit entry with details. Marking a done request again is a no-op.
func MarkDoneTx(ctx context.Context, tx pgx.Tx, id int64, details map[string]any) error {
	rec, err := get(ctx, tx, id, true)
	if err != nil {
		return err
	}
	if rec.Status == StatusDone {
		return nil
	}
	if _, err := tx.Exec(ctx, finishSQL, id, StatusDone, ""); err != nil {
		return fmt.Errorf("offboard: mark request %d done: %w", id, err)
	}
	if details == nil {
		details = map[string]any{}
	}
	details["request_id"], details["action"] = rec.ID, string(rec.Action)
	return audit.Record(ctx, tx, audit.Entry{
		Actor: rec.RequestedBy, Action: rec.Action.AuditAction(), TenantID: rec.TenantID,
		Outcome: audit.OutcomeDone, Details: details,
	})
}

// MarkFailed marks request id failed with reason, notes the reason on the
// tenant (which stays offboarding: not routed, to be offboarded again) and
// writes the audit entry, in one transaction. A finished request is left
// alone. The reason is shown to operators: it must not hold secrets.
func MarkFailed(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, id int64, reason string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rec, err := get(ctx, tx, id, true)
		if err != nil || rec.Status.Finished() {
			return err
		}
		if reason == "" {
			reason = "failed"
		}
		if _, err := tx.Exec(ctx, finishSQL, id, StatusFailed, reason); err != nil {
			return fmt.Errorf("offboard: mark request %d failed: %w", id, err)
		}
		if err := controlplane.NewStore(tx).SetTenantReason(ctx, rec.TenantID, tenants.TenantOffboarding,
			string(rec.Action)+" failed: "+reason); err != nil {
			return fmt.Errorf("offboard: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: rec.RequestedBy, Action: rec.Action.AuditAction(), TenantID: rec.TenantID,
			Outcome: audit.OutcomeFailed,
			Details: map[string]any{"request_id": rec.ID, "action": string(rec.Action), "error": reason},
		})
	})
}

// Store stores r for a task that is already running (a tenant:offboard
// enqueued by a fleet without this outbox), or finds the request it
// repeats, exactly as Outbox.Submit does but without enqueuing; the caller
// then carries the request out.
func Store(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, r Request) (Record, error) {
	r, err := r.normalize()
	if err != nil {
		return Record{}, err
	}
	var rec Record
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rec, _, err = store(ctx, tx, r)
		return err
	})
	return rec, err
}

// unfinishedSQL pages through the requests the reconciler re-enqueues.
const unfinishedSQL = `SELECT ` + recordColumns + ` FROM offboard_requests
WHERE status IN ('pending', 'enqueued')
  AND updated_at <= now() - make_interval(secs => $1)
  AND id > $2
ORDER BY id
LIMIT $3`

// requestedSinceSQL tells whether tenant was asked to be offboarded at or
// after a time.
const requestedSinceSQL = `SELECT EXISTS (SELECT 1 FROM offboard_requests WHERE tenant_id = $1 AND created_at >= $2)`

// RequestedSince reports whether tenantID was asked to be offboarded (or
// purged) at or after since: the provisioning agent refuses an onboarding
// request older than that.
func RequestedSince(ctx context.Context, db controlplane.DB, tenantID string, since time.Time) (bool, error) {
	var yes bool
	if err := db.QueryRow(ctx, requestedSinceSQL, tenantID, since).Scan(&yes); err != nil {
		return false, fmt.Errorf("offboard: read offboardings of %s: %w", tenantID, err)
	}
	return yes, nil
}
