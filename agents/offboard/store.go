package offboard

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// store saves a validated request, or finds the one it repeats, marks the
// tenant offboarding and records the request in the audit log, in tx. The
// tenant's row is locked first, so concurrent requests for one tenant run
// one after the other and a repeat always finds the first.
func store(ctx context.Context, tx pgx.Tx, r Request) (Record, bool, error) {
	st := controlplane.NewStore(tx)
	tenant, err := st.LockTenant(ctx, r.TenantID)
	if err != nil {
		return Record{}, false, fmt.Errorf("offboard: %w", err)
	}
	status := tenant.Status
	inflight, ok, err := st.InflightOffboardRequest(ctx, r.TenantID)
	switch {
	case err != nil:
		return Record{}, false, fmt.Errorf("offboard: find request of %s: %w", r.TenantID, err)
	case ok && inflight.Action == r.Action:
		return inflight, true, auditRequest(ctx, tx, r, inflight, true)
	case ok:
		return Record{}, false, fmt.Errorf("%w: tenant %s: a %s request (%d) is in flight", ErrConflict, r.TenantID, inflight.Action, inflight.ID)
	}
	if status == tenants.TenantOffboarded {
		// A repeat of the request that offboarded (or purged) the tenant
		// answers as that request, so a retried call is not an error.
		latest, ok, err := st.LatestOffboardRequest(ctx, r.TenantID)
		if err != nil {
			return Record{}, false, fmt.Errorf("offboard: find request of %s: %w", r.TenantID, err)
		}
		if ok && latest.Action == r.Action && latest.Status == StatusDone {
			return latest, true, auditRequest(ctx, tx, r, latest, true)
		}
	}
	if err := admits(r.Action, status); err != nil {
		return Record{}, false, fmt.Errorf("%w: tenant %s: %w", ErrConflict, r.TenantID, err)
	}
	rec, err := st.InsertOffboardRequest(ctx, controlplane.NewOffboardRequest{TenantID: r.TenantID, Action: r.Action, RequestedBy: r.RequestedBy})
	if err != nil {
		return Record{}, false, fmt.Errorf("offboard: store request of %s: %w", r.TenantID, err)
	}
	reason := string(r.Action) + " requested by " + r.RequestedBy
	// Out of routing: only active tenants resolve, and the route version
	// tells caches the route changed.
	if _, err := st.SetTenantStatus(ctx, r.TenantID, tenants.TenantOffboarding, reason); err != nil {
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

// MarkDoneTx marks request id done inside the caller's transaction (the
// provisioning agent commits it with the tenant's final status) and writes
// the audit entry with details. Marking a done request again is a no-op.
func MarkDoneTx(ctx context.Context, tx pgx.Tx, id int64, details map[string]any) error {
	rec, marked, err := controlplane.NewStore(tx).CompleteOffboardRequest(ctx, id)
	if err != nil || !marked {
		return err
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
func MarkFailed(ctx context.Context, db controlplane.DB, id int64, reason string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		st := controlplane.NewStore(tx)
		rec, marked, err := st.FailOffboardRequest(ctx, id, reason)
		if err != nil || !marked {
			return err
		}
		if err := st.SetTenantReason(ctx, rec.TenantID, tenants.TenantOffboarding,
			string(rec.Action)+" failed: "+rec.Error); err != nil {
			return fmt.Errorf("offboard: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: rec.RequestedBy, Action: rec.Action.AuditAction(), TenantID: rec.TenantID,
			Outcome: audit.OutcomeFailed,
			Details: map[string]any{"request_id": rec.ID, "action": string(rec.Action), "error": rec.Error},
		})
	})
}

// Store stores r for a task that is already running (a tenant:offboard
// enqueued by a fleet without this outbox), or finds the request it
// repeats, exactly as Outbox.Submit does but without enqueuing; the caller
// then carries the request out.
func Store(ctx context.Context, db controlplane.DB, r Request) (Record, error) {
	r, err := r.normalize()
	if err != nil {
		return Record{}, err
	}
	rec, _, err := outbox.Store(ctx, db, func(ctx context.Context, tx pgx.Tx) (Record, bool, error) {
		return store(ctx, tx, r)
	})
	return rec, err
}
