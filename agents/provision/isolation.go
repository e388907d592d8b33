package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ActionSetIsolation is the audit action of an isolation level change.
const ActionSetIsolation = "tenant.set_isolation"

// ErrNotPlaced means the tenant has no instance yet: its isolation level
// is set by its onboarding request.
var ErrNotPlaced = errors.New("provision: tenant not placed on an instance")

// SetIsolation changes an active tenant's isolation level and records it in
// the audit log (actor, from, to) in the same transaction, then publishes
// the tenant's route, so every process's tenants.Pools serves the tenant's
// next unit of work at the new level. Going strict first checks that the
// tenant's own role can log in (Sessions.Tenant enables the login when the
// server refuses it, for tenants onboarded before logins existed), so a
// strict route never points at a role that cannot log in. Setting the level
// the tenant has is a no-op, audited as such. It fails with
// tenants.ErrTenantNotFound, tenants.ErrTenantNotActive or
// tenants.ErrInvalidIsolation.
func (a *Agent) SetIsolation(ctx context.Context, id string, level tenants.Isolation, actor string) (controlplane.Tenant, error) {
	if err := tenants.ValidateID(id); err != nil {
		return controlplane.Tenant{}, err
	}
	if !level.Valid() {
		return controlplane.Tenant{}, fmt.Errorf("%w %q", tenants.ErrInvalidIsolation, level)
	}
	tenant, err := a.cfg.Catalog.GetTenant(ctx, id)
	if err != nil {
		return controlplane.Tenant{}, err
	}
	if tenant.Status != tenants.TenantActive {
		return controlplane.Tenant{}, fmt.Errorf("%w: %s is %s", tenants.ErrTenantNotActive, id, tenant.Status)
	}
	if tenant.InstanceID == "" {
		return controlplane.Tenant{}, fmt.Errorf("%w: %s", ErrNotPlaced, id)
	}
	from := tenant.Isolation
	if level == tenants.Strict && from != tenants.Strict {
		if err := a.checkTenantLogin(ctx, tenant); err != nil {
			return controlplane.Tenant{}, err
		}
	}
	outcome := audit.OutcomeDone
	if from == level {
		outcome = "unchanged"
	}
	err = pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		if _, err := controlplane.NewStore(tx).SetTenantIsolation(ctx, id, level); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSetIsolation, TenantID: id,
			Outcome: outcome, Details: map[string]any{"from": string(from), "to": string(level)}})
	})
	if err != nil {
		return controlplane.Tenant{}, fmt.Errorf("provision: set isolation of %s: %w", id, err)
	}
	if err := a.cfg.Router.Publish(ctx, id); err != nil {
		return controlplane.Tenant{}, err
	}
	a.cfg.Logger.InfoContext(ctx, "tenant isolation set", slog.String("tenant", id),
		slog.String("from", string(from)), slog.String("to", string(level)), slog.String("actor", actor))
	tenant.Isolation = level
	return tenant, nil
}

// checkTenantLogin opens one session as the tenant's own role, verified to
// be nothing more, and closes it.
func (a *Agent) checkTenantLogin(ctx context.Context, tenant controlplane.Tenant) error {
	inst, err := a.cfg.Catalog.GetInstance(ctx, tenant.InstanceID)
	if err != nil {
		return err
	}
	names, err := tenants.NamesFor(a.cfg.Fleet, tenant.ID)
	if err != nil {
		return err
	}
	inst.Database = tenant.Database
	pool, err := a.cfg.Sessions.Tenant(ctx, inst, names, 1)
	if err != nil {
		return fmt.Errorf("provision: %s cannot go strict: %w", tenant.ID, err)
	}
	pool.Close()
	return nil
}
