package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ActionRestore is the audit action of a re-onboarding that brought an
// archived schema back.
const ActionRestore = "tenant.restore"

// reclaim takes an offboarded tenant back for a re-onboarding (claim's
// step for a tenant id held by an offboarded tenant), in one transaction
// with the tenant's row locked: status provisioning, the request's name and
// tier, and a placement to start from. A fresh re-onboarding starts
// unplaced (placement picks an instance as for a new tenant; a dedicated
// instance deleted by a drop is created anew); a restoring one (the
// request's Restore) claims the tenant's newest archive and is placed on
// the archive's instance, which must be ready and of the requested tier.
// When the tenant is no longer offboarded (a concurrent reclaim), it is
// returned as it is.
func (a *Agent) reclaim(ctx context.Context, rec controlplane.IntakeRequest) (controlplane.Tenant, error) {
	err := pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		store := controlplane.NewStore(tx)
		locked, err := store.LockTenant(ctx, rec.TenantID)
		if err != nil {
			return err
		}
		if locked.Status != tenants.TenantOffboarded {
			return nil
		}
		reclaim := controlplane.Reclaim{Name: rec.Name, Tier: rec.Tier}
		switch {
		case rec.Restore:
			arch, err := a.restorableArchive(ctx, tx, rec, true)
			if err != nil {
				return err
			}
			reclaim.InstanceID, reclaim.Database = arch.InstanceID, arch.Database
		case rec.Tier == tenants.Dedicated:
			// The tenant's own instance, if a drop deleted it, is created
			// again by the placement (which inserts the row anew).
			if err := store.ForgetDeletedInstance(ctx, rec.TenantID); err != nil {
				return err
			}
		}
		return store.ReclaimTenant(ctx, rec.TenantID, reclaim)
	})
	if err != nil {
		return controlplane.Tenant{}, err
	}
	queue.Logger(ctx).InfoContext(ctx, "offboarded tenant onboarded again", slog.String("tenant", rec.TenantID),
		slog.Bool("restore", rec.Restore), slog.Int64("request_id", rec.ID))
	return a.cfg.Catalog.GetTenant(ctx, rec.TenantID)
}

// claimRestore checks, for a restoring request whose tenant was not
// offboarded at claim (a retry, or a failed re-onboarding resumed), that
// it has an archive to restore on the instance it is placed on, and places
// it there when it is not placed.
func (a *Agent) claimRestore(ctx context.Context, tenant controlplane.Tenant, rec controlplane.IntakeRequest) error {
	// An active tenant restores nothing new: only a retry of the request
	// that claimed an archive goes on.
	claimNew := tenant.Status != tenants.TenantActive
	if tenant.Tier != rec.Tier {
		return fmt.Errorf("%w: tenant %s exists with tier %s, request asks for %s", ErrPermanent, tenant.ID, tenant.Tier, rec.Tier)
	}
	arch, err := a.restorableArchive(ctx, a.cfg.DB, rec, claimNew)
	if err != nil {
		return err
	}
	switch tenant.InstanceID {
	case arch.InstanceID:
		return nil
	case "":
		_, err := a.cfg.Catalog.SetTenantPlacement(ctx, tenant.ID, controlplane.Placement{InstanceID: arch.InstanceID, Database: arch.Database})
		return err
	}
	return fmt.Errorf("%w: tenant %s is placed on %s, its archive %s lives on %s", ErrPermanent,
		tenant.ID, tenant.InstanceID, arch.Schema, arch.InstanceID)
}

// restorableArchive returns the archive rec restores (claiming the newest
// when claimNew), checked against the instance it lives on.
func (a *Agent) restorableArchive(ctx context.Context, db controlplane.DB, rec controlplane.IntakeRequest, claimNew bool) (controlplane.TenantArchive, error) {
	arch, err := controlplane.NewStore(db).ClaimTenantArchive(ctx, rec.TenantID, rec.ID, claimNew)
	if errors.Is(err, controlplane.ErrNoTenantArchive) {
		return controlplane.TenantArchive{}, fmt.Errorf("%w: %w; onboard it without restore for a fresh schema", ErrPermanent, err)
	}
	if err != nil {
		return controlplane.TenantArchive{}, err
	}
	inst, err := controlplane.NewStore(db).GetInstance(ctx, arch.InstanceID)
	if err != nil {
		return controlplane.TenantArchive{}, err
	}
	if inst.Status != provider.StatusReady {
		return controlplane.TenantArchive{}, fmt.Errorf("%w: archive %s lives on instance %s, which is %s", ErrPermanent, arch.Schema, inst.ID, inst.Status)
	}
	if inst.Tier != rec.Tier {
		return controlplane.TenantArchive{}, fmt.Errorf("%w: archive %s lives on a %s instance; onboard the tenant with tier %s to restore it",
			ErrPermanent, arch.Schema, inst.Tier, inst.Tier)
	}
	return arch, nil
}

// restoreSchema renames the archive rec restores back to the tenant's
// schema (admin DDL: a rename runs no tenant code), in the ensure step
// before the role and grants are ensured, and records the restore with an
// audit entry once. It is a no-op for a request that restores nothing, and
// for a retry after the rename.
func (a *Agent) restoreSchema(ctx context.Context, admin *pgxpool.Pool, rec controlplane.IntakeRequest, names tenants.Names) error {
	if !rec.Restore {
		return nil
	}
	arch, err := a.store.ClaimTenantArchive(ctx, rec.TenantID, rec.ID, false)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if arch.RestoredAt != nil {
		return nil
	}
	live, err := schemaExists(ctx, admin, names.Schema)
	if err != nil {
		return err
	}
	archived, err := schemaExists(ctx, admin, arch.Schema)
	if err != nil {
		return err
	}
	switch {
	case archived && live:
		return fmt.Errorf("%w: tenant %s has a live schema %s and the archive %s to restore; offboard it first",
			ErrPermanent, rec.TenantID, names.Schema, arch.Schema)
	case archived:
		if _, err := admin.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{arch.Schema}.Sanitize()+" RENAME TO "+
			pgx.Identifier{names.Schema}.Sanitize()); err != nil {
			return fmt.Errorf("provision: restore schema %s: %w", arch.Schema, err)
		}
	case !live:
		return fmt.Errorf("%w: archive %s of tenant %s is gone", ErrPermanent, arch.Schema, rec.TenantID)
	}
	// Renamed now or by an attempt that crashed before recording it.
	err = pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		if err := controlplane.NewStore(tx).MarkTenantArchiveRestored(ctx, arch.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: rec.RequestedBy, Action: ActionRestore, TenantID: rec.TenantID, Ticket: rec.TicketKey,
			Outcome: audit.OutcomeDone,
			Details: map[string]any{"request_id": rec.ID, "archive": arch.Schema, "instance_id": arch.InstanceID},
		})
	})
	if err != nil {
		return fmt.Errorf("provision: record restore of %s: %w", rec.TenantID, err)
	}
	queue.Logger(ctx).InfoContext(ctx, "tenant schema restored", slog.String("tenant", rec.TenantID), slog.String("archive", arch.Schema))
	return nil
}
