package intake

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// ErrNotFound marks a request id that is not stored.
var ErrNotFound = controlplane.ErrIntakeRequestNotFound

// ErrAlreadyDone marks an attempt to fail a request that is done.
var ErrAlreadyDone = controlplane.ErrIntakeRequestDone

// ActionOnboard is the audit action of onboarding requests.
const ActionOnboard = "tenant.onboard"

// store saves a validated request, or finds the one it repeats, and records
// the intake in the audit log, all in transaction tx.
func store(ctx context.Context, tx pgx.Tx, r Request) (Record, bool, error) {
	rec, duplicate, err := controlplane.NewStore(tx).InsertIntakeRequest(ctx, controlplane.NewIntakeRequest{
		Source: r.Source, DeliveryID: r.DeliveryID, TicketKey: r.TicketKey, TenantID: r.TenantID, Name: r.Name,
		Tier: r.Tier, Isolation: r.Isolation, RequestedBy: r.RequestedBy, Restore: r.Restore,
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("intake: store request: %w", err)
	}
	return rec, duplicate, auditIntake(ctx, tx, r, rec, duplicate)
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

// MarkDoneTx marks request id done inside the caller's transaction, so the
// provisioning agent can commit it with the tenant's activation, and
// reports whether it did. Marking a done request again is a no-op that
// reports false, so the caller records the completion once; a failed one
// becomes done.
func (in *Intake) MarkDoneTx(ctx context.Context, tx pgx.Tx, id int64) (bool, error) {
	rec, marked, err := controlplane.NewStore(tx).CompleteIntakeRequest(ctx, id)
	if err != nil || !marked {
		return false, err
	}
	return true, auditFinish(ctx, tx, rec, StatusDone, "")
}

// markFailedTx marks request id failed with reason inside the caller's
// transaction. A failed request's reason is updated; a done one is left
// alone and ErrAlreadyDone returned.
func markFailedTx(ctx context.Context, tx pgx.Tx, id int64, reason string) error {
	rec, marked, err := controlplane.NewStore(tx).FailIntakeRequest(ctx, id, reason)
	if err != nil || !marked {
		return err
	}
	if reason == "" {
		reason = "failed"
	}
	return auditFinish(ctx, tx, rec, StatusFailed, reason)
}

// auditFinish records that rec ended with status.
func auditFinish(ctx context.Context, tx pgx.Tx, rec Record, status Status, reason string) error {
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
