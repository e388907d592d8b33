package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// Errors of the intake outbox (intake_requests).
var (
	// ErrIntakeRequestNotFound marks an intake request id that is not
	// stored.
	ErrIntakeRequestNotFound = errors.New("intake: request not found")
	// ErrIntakeRequestDone marks an attempt to fail an intake request that
	// is done.
	ErrIntakeRequestDone = errors.New("intake: request already done")
	// ErrIntakeRequestInFlight marks a reopen refused because the tenant
	// has another unfinished intake request.
	ErrIntakeRequestInFlight = errors.New("intake: another request for the tenant is in flight")
)

// IntakeSource says where an onboarding request came from.
type IntakeSource string

// The sources of the intake_requests table.
const (
	IntakeSourceJira   IntakeSource = "jira"
	IntakeSourceTicket IntakeSource = "ticket"
	IntakeSourceAPI    IntakeSource = "api"
	IntakeSourceCLI    IntakeSource = "cli"
)

// Valid reports whether s is a known source.
func (s IntakeSource) Valid() bool {
	return s == IntakeSourceJira || s == IntakeSourceTicket || s == IntakeSourceAPI || s == IntakeSourceCLI
}

// NewIntakeRequest is an onboarding request to store, validated by the
// caller (agents/intake).
type NewIntakeRequest struct {
	Source IntakeSource
	// DeliveryID and TicketKey are optional ("" stores NULL).
	DeliveryID, TicketKey string
	TenantID, Name        string
	Tier                  tenants.Tier
	// Isolation is the level the tenant is onboarded with.
	Isolation   tenants.Isolation
	RequestedBy string
	Restore     bool
}

// IntakeRequest is a stored onboarding request, a row of intake_requests.
type IntakeRequest struct {
	ID         int64
	Source     IntakeSource
	DeliveryID string
	TicketKey  string
	TenantID   string
	Name       string
	Tier       tenants.Tier
	// Isolation is the isolation level the tenant is onboarded with.
	Isolation   tenants.Isolation
	RequestedBy string
	// Restore: re-onboard an offboarded tenant with its archived schema.
	Restore bool
	// TaskAttempt numbers the request's current task
	// (queue.OnboardAttemptTaskID): 1 at first, one more after each retry
	// of the failed request and each re-enqueue of a task that completed
	// without finishing it.
	TaskAttempt int
	OutboxState
}

// RequestID is the row's id (for the outbox mechanism).
func (r IntakeRequest) RequestID() int64 { return r.ID }

var intakeRequests = table[IntakeRequest]{
	name: "intake_requests",
	columns: `id, source, coalesce(delivery_id, ''), coalesce(ticket_key, ''), tenant_id, name,
	tier, isolation, requested_by, restore, task_attempt, ` + outboxStateColumns,
	scan: func(row pgx.Row) (IntakeRequest, error) {
		var r IntakeRequest
		err := row.Scan(append([]any{&r.ID, &r.Source, &r.DeliveryID, &r.TicketKey, &r.TenantID, &r.Name,
			&r.Tier, &r.Isolation, &r.RequestedBy, &r.Restore, &r.TaskAttempt}, r.scanState()...)...)
		return r, err
	},
	notFound: ErrIntakeRequestNotFound,
}

// insertIntakeSQL stores a request unless it collides with one already
// stored: the same delivery or ticket from the same source, or an
// unfinished request for the same tenant (the partial unique indexes of
// intake_requests). Concurrent inserts of the same request wait for each
// other on the index, so exactly one stores it.
var insertIntakeSQL = `INSERT INTO intake_requests
	(source, delivery_id, ticket_key, tenant_id, name, tier, requested_by, restore, isolation)
VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING ` + intakeRequests.columns

// intakeConflictSQL finds the stored request an insert collided with, the
// most specific match first.
var intakeConflictSQL = `SELECT ` + intakeRequests.columns + ` FROM intake_requests
WHERE (source = $1 AND delivery_id = nullif($2, ''))
   OR (source = $1 AND ticket_key = nullif($3, ''))
   OR (tenant_id = $4 AND status IN ('pending', 'enqueued'))
ORDER BY CASE
	WHEN source = $1 AND delivery_id = nullif($2, '') THEN 0
	WHEN source = $1 AND ticket_key = nullif($3, '') THEN 1
	ELSE 2 END, id
LIMIT 1`

// intakeStoreAttempts bounds the insert-or-find loop: a find comes back
// empty only when the colliding request finished between the two
// statements.
const intakeStoreAttempts = 5

// InsertIntakeRequest stores r, or finds the stored request it repeats
// (same delivery or ticket from the same source, or the tenant's
// unfinished one) and reports duplicate. Run it in the transaction that
// writes the intake's audit entry.
func (s *Store) InsertIntakeRequest(ctx context.Context, r NewIntakeRequest) (rec IntakeRequest, duplicate bool, err error) {
	args := []any{r.Source, r.DeliveryID, r.TicketKey, r.TenantID, r.Name, r.Tier, r.RequestedBy, r.Restore, r.Isolation}
	for range intakeStoreAttempts {
		rec, ok, err := intakeRequests.one(ctx, s.db, insertIntakeSQL, args...)
		if err != nil || ok {
			return rec, false, err
		}
		if rec, ok, err = intakeRequests.one(ctx, s.db, intakeConflictSQL, args[:4]...); err != nil || ok {
			return rec, ok, err
		}
	}
	return IntakeRequest{}, false, errors.New("controlplane: store intake request: conflict kept moving")
}

// IntakeRequest returns stored request id, or an error matching
// ErrIntakeRequestNotFound.
func (s *Store) IntakeRequest(ctx context.Context, id int64) (IntakeRequest, error) {
	return intakeRequests.get(ctx, s.db, id, false)
}

// MarkIntakeEnqueued records an enqueue of request id's task (see
// UnfinishedPage for the reconciler): alreadyQueued when the task was on
// the queue already, which counts no attempt. It returns the request's
// status, or false when the update changed nothing (finished meanwhile,
// or already enqueued).
func (s *Store) MarkIntakeEnqueued(ctx context.Context, id int64, alreadyQueued bool) (OutboxStatus, bool, error) {
	return intakeRequests.markEnqueued(ctx, s.db, id, alreadyQueued)
}

// UnfinishedIntakeRequests returns page p of the unfinished requests, by
// id, for the reconciler.
func (s *Store) UnfinishedIntakeRequests(ctx context.Context, p UnfinishedPage) ([]IntakeRequest, error) {
	return intakeRequests.unfinished(ctx, s.db, p)
}

// NextIntakeAttempt moves unfinished request id from task attempt attempt
// to the next one (status pending), unless it changed meanwhile (another
// reconciler moved it, or it finished): then it reports false.
func (s *Store) NextIntakeAttempt(ctx context.Context, id int64, attempt int) (IntakeRequest, bool, error) {
	return intakeRequests.one(ctx, s.db, `UPDATE intake_requests
SET task_attempt = task_attempt + 1, status = 'pending', updated_at = now()
WHERE id = $1 AND task_attempt = $2 AND status IN ('pending', 'enqueued')
RETURNING `+intakeRequests.columns, id, attempt)
}

// CompleteIntakeRequest locks request id and marks it done, returning it
// as it was; false when it was done already (nothing written, so the
// caller records the completion once). A failed request becomes done. Run
// it in a transaction.
func (s *Store) CompleteIntakeRequest(ctx context.Context, id int64) (IntakeRequest, bool, error) {
	rec, err := intakeRequests.get(ctx, s.db, id, true)
	if err != nil || rec.Status == OutboxDone {
		return rec, false, err
	}
	return rec, true, intakeRequests.finish(ctx, s.db, id, OutboxDone, "")
}

// FailIntakeRequest locks request id and marks it failed with reason
// (default "failed"), returning it as it was; false when it was failed
// with that reason already. A done request is left alone:
// ErrIntakeRequestDone. Run it in a transaction.
func (s *Store) FailIntakeRequest(ctx context.Context, id int64, reason string) (IntakeRequest, bool, error) {
	rec, err := intakeRequests.get(ctx, s.db, id, true)
	if err != nil {
		return rec, false, err
	}
	if rec.Status == OutboxDone {
		return rec, false, fmt.Errorf("%w: %d", ErrIntakeRequestDone, id)
	}
	if reason == "" {
		reason = "failed"
	}
	if rec.Status == OutboxFailed && rec.Error == reason {
		return rec, false, nil
	}
	return rec, true, intakeRequests.finish(ctx, s.db, id, OutboxFailed, reason)
}

// LockLatestIntakeRequest locks and returns the tenant's most recent
// request; false when it has none. Run it in a transaction.
func (s *Store) LockLatestIntakeRequest(ctx context.Context, tenantID string) (IntakeRequest, bool, error) {
	return intakeRequests.one(ctx, s.db, `SELECT `+intakeRequests.columns+` FROM intake_requests
WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE`, tenantID)
}

// ReopenIntakeRequest sends failed request id round again under its next
// task attempt (pending, error cleared) and returns it. It fails with
// ErrIntakeRequestInFlight when the tenant has another unfinished request,
// with ErrIntakeRequestNotFound when id is not a failed request.
func (s *Store) ReopenIntakeRequest(ctx context.Context, id int64) (IntakeRequest, error) {
	rec, ok, err := intakeRequests.one(ctx, s.db, `UPDATE intake_requests
SET status = 'pending', error = '', finished_at = NULL, task_attempt = task_attempt + 1, updated_at = now()
WHERE id = $1 AND status = 'failed'
RETURNING `+intakeRequests.columns, id)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return IntakeRequest{}, fmt.Errorf("%w: request %d", ErrIntakeRequestInFlight, id)
	case err != nil:
		return IntakeRequest{}, err
	case !ok:
		return IntakeRequest{}, fmt.Errorf("%w: no failed request %d", ErrIntakeRequestNotFound, id)
	}
	return rec, nil
}
