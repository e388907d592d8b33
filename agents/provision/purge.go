package provision

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// purgeTenant drops everything of the tenant on every instance it has data
// on (its placement and the instances of its recorded archives): access
// first, then its schema and every archive of it, then its role; a
// dedicated tenant's instance is deleted last. Roles are per server and a
// role that still owns objects in another database cannot be dropped, so
// every database is emptied before any role is dropped. Every step is a
// no-op for what is gone.
func (a *Agent) purgeTenant(ctx context.Context, tenant controlplane.Tenant, names tenants.Names, details map[string]any) error {
	archives, err := a.store.TenantArchives(ctx, tenant.ID)
	if err != nil {
		return err
	}
	recorded := map[string][]string{}
	var ids []string
	if tenant.InstanceID != "" {
		ids = append(ids, tenant.InstanceID)
	}
	for _, arch := range archives {
		recorded[arch.InstanceID] = append(recorded[arch.InstanceID], arch.Schema)
		if !slices.Contains(ids, arch.InstanceID) {
			ids = append(ids, arch.InstanceID)
		}
	}
	var insts []controlplane.Instance
	for _, id := range ids {
		inst, err := a.cfg.Catalog.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		if inst.Status == provider.StatusReady {
			insts = append(insts, inst) // anything else holds no database to empty
		}
	}
	var dropped []string
	for _, inst := range insts {
		err := a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
			if err := tenants.RevokeTenant(ctx, admin, names); err != nil {
				return err
			}
			gone, err := dropArchives(ctx, admin, names.Schema, recorded[inst.ID])
			dropped = append(dropped, gone...)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, inst := range insts {
		if err := a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
			return tenants.DropTenant(ctx, admin, names)
		}); err != nil {
			return err
		}
	}
	details["dropped"] = names.Schema
	if len(dropped) > 0 {
		details["archives_dropped"] = dropped
	}
	if tenant.InstanceID == "" {
		return nil
	}
	inst, err := a.cfg.Catalog.GetInstance(ctx, tenant.InstanceID)
	if err != nil {
		return err
	}
	if inst.Tier == tenants.Dedicated {
		if err := a.deleteInstance(ctx, inst); err != nil {
			return err
		}
		details["instance_deleted"] = true
	}
	return nil
}

// archiveNamePattern matches the archive names of schema made by
// ArchivedSchemaName with its same-day suffix, and nothing else: the
// suffix has at most two digits, so the archive of a tenant whose id ends
// in eight digits is never taken for another tenant's.
func archiveNamePattern(schema string) string {
	return "^archived_" + regexp.QuoteMeta(schema) + "_[0-9]{8}(_[0-9]{1,2})?$"
}

// dropArchives drops the archives of schema in admin's database: the
// recorded ones and any the catalog holds under an archive name (those made
// before archives were recorded). It returns the names it dropped.
func dropArchives(ctx context.Context, admin *pgxpool.Pool, schema string, recorded []string) ([]string, error) {
	rows, err := admin.Query(ctx, `SELECT nspname FROM pg_catalog.pg_namespace
		WHERE nspname ~ $1 OR nspname = ANY($2) ORDER BY nspname`, archiveNamePattern(schema), recorded)
	if err != nil {
		return nil, fmt.Errorf("provision: list archives of %s: %w", schema, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("provision: list archives of %s: %w", schema, err)
	}
	for _, s := range found {
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			return nil, fmt.Errorf("provision: drop archive %s: %w", s, err)
		}
	}
	return found, nil
}

// deleteInstance deletes a dedicated instance at the provider and records
// it deleted.
func (a *Agent) deleteInstance(ctx context.Context, inst controlplane.Instance) error {
	if inst.Status == provider.StatusDeleted {
		return nil
	}
	a.cfg.Sessions.Forget(inst)
	if inst.ProviderRef != "" {
		if err := a.cfg.Provider.Delete(ctx, inst.ProviderRef); err != nil {
			return fmt.Errorf("provision: delete instance %s: %w", inst.ID, err)
		}
	}
	return a.cfg.Catalog.SetInstanceStatus(ctx, inst.ID, provider.StatusDeleted, "tenant offboarded with drop")
}
