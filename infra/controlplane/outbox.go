package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxStatus is where a row of an outbox table (intake_requests,
// offboard_requests) stands.
type OutboxStatus string

// The statuses of the outbox tables.
const (
	// OutboxPending: stored, its task not (known to be) enqueued yet.
	OutboxPending OutboxStatus = "pending"
	// OutboxEnqueued: its task went to the queue.
	OutboxEnqueued OutboxStatus = "enqueued"
	// OutboxDone: the work finished.
	OutboxDone OutboxStatus = "done"
	// OutboxFailed: the work failed for good; the row's Error says why.
	OutboxFailed OutboxStatus = "failed"
)

// Finished reports whether s is final (done or failed).
func (s OutboxStatus) Finished() bool { return s == OutboxDone || s == OutboxFailed }

// OutboxState is what every outbox row records of its progress, embedded
// in IntakeRequest and OffboardRequest.
type OutboxState struct {
	Status OutboxStatus
	// Error is the failure reason of a failed request.
	Error string
	// Attempts counts the enqueues that put a new task on the queue.
	Attempts   int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// RequestStatus is the row's status (for the outbox mechanism).
func (s OutboxState) RequestStatus() OutboxStatus { return s.Status }

// outboxStateColumns are OutboxState's columns, in scanState's order.
const outboxStateColumns = `status, error, attempts, created_at, updated_at, finished_at`

// scanState lists OutboxState's scan destinations.
func (s *OutboxState) scanState() []any {
	return []any{&s.Status, &s.Error, &s.Attempts, &s.CreatedAt, &s.UpdatedAt, &s.FinishedAt}
}

// UnfinishedPage selects one page of the unfinished rows (pending or
// enqueued) of an outbox table, for its reconciler.
type UnfinishedPage struct {
	// MinAge skips rows touched more recently than this, so the
	// reconciler does not race a fresh request. 0: no minimum.
	MinAge time.Duration
	// After is the last id of the previous page; 0 for the first.
	After int64
	// Limit is the page size.
	Limit int
}

// table is the SQL shared by the tables of this group: reads of one row or
// a list by a query, and, for the outbox tables, which have id, status,
// error, attempts, updated_at and finished_at with the same meaning, the
// status updates and the reconciler's scan. name and columns are constants
// of this package, never input.
type table[R any] struct {
	name    string
	columns string
	scan    func(pgx.Row) (R, error)
	// notFound is the sentinel a missing id is reported with.
	notFound error
}

func (t table[R]) get(ctx context.Context, db DB, id int64, lock bool) (R, error) {
	q := `SELECT ` + t.columns + ` FROM ` + t.name + ` WHERE id = $1`
	if lock {
		q += " FOR UPDATE"
	}
	rec, err := t.scan(db.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, fmt.Errorf("%w: %d", t.notFound, id)
	}
	if err != nil {
		return rec, fmt.Errorf("controlplane: get %s %d: %w", t.name, id, err)
	}
	return rec, nil
}

// markEnqueued records an enqueue of row id's task: one that put a new
// task on the queue counts an attempt; one that found it there already
// (alreadyQueued) only moves a pending row to enqueued. It returns the
// row's status, or false when nothing changed (the row finished meanwhile,
// or an already queued task found it enqueued).
func (t table[R]) markEnqueued(ctx context.Context, db DB, id int64, alreadyQueued bool) (OutboxStatus, bool, error) {
	q := `UPDATE ` + t.name + ` SET status = 'enqueued', attempts = attempts + 1, updated_at = now()
WHERE id = $1 AND status IN ('pending', 'enqueued') RETURNING status`
	if alreadyQueued {
		q = `UPDATE ` + t.name + ` SET status = 'enqueued', updated_at = now()
WHERE id = $1 AND status = 'pending' RETURNING status`
	}
	var status OutboxStatus
	err := db.QueryRow(ctx, q, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("controlplane: mark %s %d enqueued: %w", t.name, id, err)
	}
	return status, true, nil
}

// finish marks row id done or failed with reason.
func (t table[R]) finish(ctx context.Context, db DB, id int64, status OutboxStatus, reason string) error {
	if _, err := db.Exec(ctx, `UPDATE `+t.name+` SET status = $2, error = $3, finished_at = now(), updated_at = now()
WHERE id = $1`, id, status, reason); err != nil {
		return fmt.Errorf("controlplane: mark %s %d %s: %w", t.name, id, status, err)
	}
	return nil
}

// unfinished returns page p of the rows the reconciler re-enqueues, by id.
func (t table[R]) unfinished(ctx context.Context, db DB, p UnfinishedPage) ([]R, error) {
	return t.list(ctx, db, `SELECT `+t.columns+` FROM `+t.name+`
WHERE status IN ('pending', 'enqueued')
  AND updated_at <= now() - make_interval(secs => $1)
  AND id > $2
ORDER BY id
LIMIT $3`, p.MinAge.Seconds(), p.After, p.Limit)
}

func (t table[R]) list(ctx context.Context, db DB, q string, args ...any) ([]R, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list %s: %w", t.name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (R, error) { return t.scan(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list %s: %w", t.name, err)
	}
	return out, nil
}

// one runs a query returning at most one row; false when it returns none.
func (t table[R]) one(ctx context.Context, db DB, q string, args ...any) (R, bool, error) {
	rec, err := t.scan(db.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("controlplane: read %s: %w", t.name, err)
	}
	return rec, true, nil
}
