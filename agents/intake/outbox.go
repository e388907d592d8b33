package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
)

// ErrNotFound marks a request id that is not stored.
var ErrNotFound = errors.New("intake: request not found")

// ErrAlreadyDone marks an attempt to fail a request that is done.
var ErrAlreadyDone = errors.New("intake: request already done")

// ActionOnboard is the audit action of onboarding requests.
const ActionOnboard = "tenant.onboard"

const recordColumns = `id, source, coalesce(delivery_id, ''), coalesce(ticket_key, ''), tenant_id, name,
	tier, isolation, requested_by, restore, status, error, attempts, created_at, updated_at, finished_at, task_attempt`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Source, &r.DeliveryID, &r.TicketKey, &r.TenantID, &r.Name,
		&r.Tier, &r.Isolation, &r.RequestedBy, &r.Restore, &r.Status, &r.Error, &r.Attempts, &r.CreatedAt, &r.UpdatedAt, &r.FinishedAt, &r.TaskAttempt)
	return r, err
}

// insertSQL stores a request unless it collides with one already stored:
// the same delivery or ticket from the same source, or an unfinished
// request for the same tenant (the partial unique indexes of
// intake_requests). Concurrent inserts of the same request wait for each
// other on the index, so exactly one stores it.
const insertSQL = `INSERT INTO intake_requests
	(source, delivery_id, ticket_key, tenant_id, name, tier, requested_by, restore, isolation)
VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING ` + recordColumns

// conflictSQL finds the stored request an insert collided with, the most
// specific match first.
const conflictSQL = `SELECT ` + recordColumns + ` FROM intake_requests
WHERE (source = $1 AND delivery_id = nullif($2, ''))
   OR (source = $1 AND ticket_key = nullif($3, ''))
   OR (tenant_id = $4 AND status IN ('pending', 'enqueued'))
ORDER BY CASE
	WHEN source = $1 AND delivery_id = nullif($2, '') THEN 0
	WHEN source = $1 AND ticket_key = nullif($3, '') THEN 1
	ELSE 2 END, id
LIMIT 1`

// storeAttempts bounds the insert-or-find loop: a find comes back empty
// only when the colliding request finished between the two statements.
const storeAttempts = 5

// store saves a validated request, or finds the one it repeats, and records
// the intake in the audit log, all in one transaction.
func store(ctx context.Context, db pgx.Tx, r Request) (Record, bool, error) {
	args := []any{r.Source, r.DeliveryID, r.TicketKey, r.TenantID, r.Name, r.Tier, r.RequestedBy, r.Restore, r.Isolation}
	for range storeAttempts {
		rec, err := scanRecord(db.QueryRow(ctx, insertSQL, args...))
		if err == nil {
			return rec, false, auditIntake(ctx, db, r, rec, false)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Record{}, false, fmt.Errorf("intake: store request: %w", err)
		}
		rec, err = scanRecord(db.QueryRow(ctx, conflictSQL, args[:4]...))
		if err == nil {
			return rec, true, auditIntake(ctx, db, r, rec, true)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Record{}, false, fmt.Errorf("intake: find stored request: %w", err)
		}
	}
	return Record{}, false, errors.New("intake: store request: conflict kept moving")
}

func auditIntake(ctx context.Context, db audit.Execer, r Request, rec Record, duplicate bool) error {
	details := map[string]any{
		"request_id": rec.ID,
		"source":     string(r.Source),
		"tier":       string(r.Tier),
		"isolation":  string(r.Isolation),
	}
	if r.DeliveryID != "" {
		details["delivery_id"] = r.DeliveryID
	}
	if r.Restore {
		details["restore"] = true
	}
	outcome := audit.OutcomeAccepted
	if duplicate {
		outcome = audit.OutcomeDuplicate
		if r.TenantID != rec.TenantID {
			details["requested_tenant_id"] = r.TenantID
		}
		if r.TicketKey != rec.TicketKey {
			details["requested_ticket"] = r.TicketKey
		}
	}
	return audit.Record(ctx, db, audit.Entry{
		Actor:    r.RequestedBy,
		Action:   ActionOnboard,
		TenantID: rec.TenantID,
		Ticket:   rec.TicketKey,
		Outcome:  outcome,
		Details:  details,
	})
}

const getSQL = `SELECT ` + recordColumns + ` FROM intake_requests WHERE id = $1`

// querier is what reads go through: a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, db querier, id int64, lock bool) (Record, error) {
	q := getSQL
	if lock {
		q += " FOR UPDATE"
	}
	rec, err := scanRecord(db.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("intake: get request %d: %w", id, err)
	}
	return rec, nil
}

// markEnqueuedSQL records an enqueue that put a new task on the queue.
const markEnqueuedSQL = `UPDATE intake_requests
SET status = 'enqueued', attempts = attempts + 1, updated_at = now()
WHERE id = $1 AND status IN ('pending', 'enqueued')
RETURNING status`

// markSeenSQL records that the request's task is on the queue already
// (the enqueue was a duplicate), without counting an attempt.
const markSeenSQL = `UPDATE intake_requests
SET status = 'enqueued', updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING status`

const finishSQL = `UPDATE intake_requests
SET status = $2, error = $3, finished_at = now(), updated_at = now()
WHERE id = $1`

// MarkDoneTx marks request id done inside the caller's transaction, so the
// provisioning agent can commit it with the tenant's activation, and
// reports whether it did. Marking a done request again is a no-op that
// reports false, so the caller records the completion once; a failed one
// becomes done.
func MarkDoneTx(ctx context.Context, tx pgx.Tx, id int64) (bool, error) {
	rec, err := get(ctx, tx, id, true)
	if err != nil {
		return false, err
	}
	if rec.Status == StatusDone {
		return false, nil
	}
	return true, finish(ctx, tx, rec, StatusDone, "")
}

// MarkFailedTx marks request id failed with reason inside the caller's
// transaction. A failed request's reason is updated; a done one is left
// alone and ErrAlreadyDone returned.
func MarkFailedTx(ctx context.Context, tx pgx.Tx, id int64, reason string) error {
	rec, err := get(ctx, tx, id, true)
	if err != nil {
		return err
	}
	if rec.Status == StatusDone {
		return fmt.Errorf("%w: %d", ErrAlreadyDone, id)
	}
	if reason == "" {
		reason = "failed"
	}
	if rec.Status == StatusFailed && rec.Error == reason {
		return nil
	}
	return finish(ctx, tx, rec, StatusFailed, reason)
}

func finish(ctx context.Context, tx pgx.Tx, rec Record, status Status, reason string) error {
	if _, err := tx.Exec(ctx, finishSQL, rec.ID, status, reason); err != nil {
		return fmt.Errorf("intake: mark request %d %s: %w", rec.ID, status, err)
	}
	outcome, details := audit.OutcomeDone, map[string]any{"request_id": rec.ID}
	if status == StatusFailed {
		outcome, details["error"] = audit.OutcomeFailed, reason
	}
	return audit.Record(ctx, tx, audit.Entry{
		Actor:    rec.RequestedBy,
		Action:   ActionOnboard,
		TenantID: rec.TenantID,
		Ticket:   rec.TicketKey,
		Outcome:  outcome,
		Details:  details,
	})
}

// unfinishedSQL pages through the requests the reconciler re-enqueues.
const unfinishedSQL = `SELECT ` + recordColumns + ` FROM intake_requests
WHERE status IN ('pending', 'enqueued')
  AND updated_at <= now() - make_interval(secs => $1)
  AND id > $2
ORDER BY id
LIMIT $3`
