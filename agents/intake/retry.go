package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// OutcomeRetried is the audit outcome of a failed onboarding sent round
// again.
const OutcomeRetried = "retried"

// ErrNotRetryable marks a retry of a tenant whose onboarding has not failed.
// The concrete error is a *NotRetryableError.
var ErrNotRetryable = errors.New("intake: tenant is not failed")

// NotRetryableError says why a tenant's onboarding cannot be retried. It
// matches ErrNotRetryable with errors.Is.
type NotRetryableError struct {
	// TenantID is the tenant asked about.
	TenantID string
	// Reason says what the tenant is doing instead, fit to show.
	Reason string
	// Request is the tenant's latest request, if it has one.
	Request *Record
}

func (e *NotRetryableError) Error() string {
	return fmt.Sprintf("intake: tenant %s cannot be retried: %s", e.TenantID, e.Reason)
}

// Is reports whether target is ErrNotRetryable.
func (e *NotRetryableError) Is(target error) bool { return target == ErrNotRetryable }

// Retry sends tenantID's failed onboarding round again: its latest request
// goes back to pending under its next task attempt (a fresh task id),
// the audit log records who retried it, and its task is enqueued. The
// tenant's onboarding has failed when its latest request is failed and the
// catalog has the tenant failed or never got it past provisioning. by names
// who asks (default "api").
//
// Errors: an *InvalidRequestError for a malformed tenant id or by (before
// any SQL), ErrNotFound for a tenant neither the catalog nor the outbox
// knows, a *NotRetryableError for a tenant that is active, offboarded or
// being onboarded. As with Submit, a failed enqueue is not an error once the
// request is reopened: the answer says StatusPending and the reconciler
// enqueues it.
func (in *Intake) Retry(ctx context.Context, tenantID, by string) (Accepted, error) {
	if err := tenants.ValidateID(tenantID); err != nil {
		return Accepted{}, &InvalidRequestError{Field: "tenant_id", Reason: strings.TrimPrefix(err.Error(), "tenants: "), Err: err}
	}
	by = cmp.Or(strings.TrimSpace(by), string(SourceAPI))
	if err := checkText("requested_by", by, MaxKeyLen); err != nil {
		return Accepted{}, err
	}
	tenant, err := controlplane.NewStore(in.cfg.DB).GetTenant(ctx, tenantID)
	known := err == nil
	if err != nil && !errors.Is(err, tenants.ErrTenantNotFound) {
		return Accepted{}, fmt.Errorf("intake: retry %s: %w", tenantID, err)
	}
	var rec Record
	err = pgx.BeginFunc(ctx, in.cfg.DB, func(tx pgx.Tx) error {
		st := controlplane.NewStore(tx)
		latest, found, err := st.LockLatestIntakeRequest(ctx, tenantID)
		switch {
		case err != nil:
			return fmt.Errorf("intake: retry %s: %w", tenantID, err)
		case !found && !known:
			return fmt.Errorf("%w: no tenant %s", ErrNotFound, tenantID)
		case !found:
			return &NotRetryableError{TenantID: tenantID, Reason: fmt.Sprintf("it is %s and has no onboarding request", tenant.Status)}
		}
		if reason := notRetryable(known, tenant, latest); reason != "" {
			return &NotRetryableError{TenantID: tenantID, Reason: reason, Request: &latest}
		}
		rec, err = st.ReopenIntakeRequest(ctx, latest.ID)
		if errors.Is(err, controlplane.ErrIntakeRequestInFlight) {
			return &NotRetryableError{TenantID: tenantID, Reason: "another onboarding request for it is in flight"}
		}
		if err != nil {
			return fmt.Errorf("intake: retry %s: %w", tenantID, err)
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: by, Action: ActionOnboard, TenantID: tenantID, Ticket: rec.TicketKey, Outcome: OutcomeRetried,
			Details: map[string]any{
				"request_id": rec.ID, "task_id": TaskID(rec), "task_attempt": rec.TaskAttempt, "previous_error": latest.Error,
			},
		})
	})
	if err != nil {
		return Accepted{}, err
	}
	log := in.log.With(slog.Int64("request_id", rec.ID), slog.String("tenant", rec.TenantID), slog.String("task_id", TaskID(rec)))
	log.InfoContext(ctx, "onboarding retried", slog.String("requested_by", by))
	rec.Status = in.outbox.Offer(ctx, log, rec, TaskID(rec))
	return acceptedOf(rec, false), nil
}

// notRetryable says why the tenant's onboarding is not failed, or "" when
// it is.
func notRetryable(known bool, tenant controlplane.Tenant, latest Record) string {
	if known {
		switch tenant.Status {
		case tenants.TenantFailed, tenants.TenantPending, tenants.TenantProvisioning:
		default:
			return fmt.Sprintf("it is %s", tenant.Status)
		}
	}
	if latest.Status != StatusFailed {
		return fmt.Sprintf("its onboarding request %d is %s", latest.ID, latest.Status)
	}
	return ""
}
