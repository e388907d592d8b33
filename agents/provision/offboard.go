package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ActionOffboard is the audit action of offboardings.
const ActionOffboard = "tenant.offboard"

// OffboardTaskID is the deterministic task id of a tenant's offboarding.
func OffboardTaskID(tenantID string) string { return "offboard:" + tenantID }

// EnqueueOffboard queues the offboarding of tenantID on the critical queue
// under a deterministic task id (a repeat within the retention collapses
// into one task). drop deletes the tenant's schema (and a dedicated
// tenant's instance) instead of archiving it; by names who asked, for the
// audit log. The retry budget is DefaultOffboardMaxRetry.
func EnqueueOffboard(ctx context.Context, client *queue.Client, tenantID string, drop bool, by string) (queue.Enqueued, error) {
	if err := tenants.ValidateID(tenantID); err != nil {
		return queue.Enqueued{}, err
	}
	if by == "" {
		by = "unknown"
	}
	task, err := queue.NewTask(queue.TypeTenantOffboard, queue.OffboardPayload{TenantID: tenantID, Drop: drop, RequestedBy: by})
	if err != nil {
		return queue.Enqueued{}, err
	}
	return client.Enqueue(ctx, task, asynq.TaskID(OffboardTaskID(tenantID)), asynq.Queue(queue.QueueCritical),
		asynq.MaxRetry(DefaultOffboardMaxRetry), asynq.Retention(queue.DefaultRetention))
}

// ArchivedSchemaName is the name an offboarded tenant's schema is renamed
// to: "archived_<schema>_<yyyymmdd>" (at most 60 bytes).
func ArchivedSchemaName(schema, date string) string { return "archived_" + schema + "_" + date }

// HandleOffboard handles tenant:offboard. The route goes first (status
// offboarding and a router invalidation, so no process keeps routing to
// the tenant), then access (the application role loses its membership of
// the tenant role), then the data: the schema is renamed to
// ArchivedSchemaName, or dropped with the tenant role when Drop is set (a
// dedicated tenant's instance is deleted too). The tenant ends offboarded
// and the audit log says who asked and what was done. Every step is
// idempotent.
func (a *Agent) HandleOffboard(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.OffboardPayload](t)
	if err != nil {
		return err
	}
	err = a.offboard(ctx, p)
	if errors.Is(err, tenants.ErrTenantNotFound) || errors.Is(err, ErrPermanent) || errors.Is(err, tenants.ErrInvalidID) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

func (a *Agent) offboard(ctx context.Context, p queue.OffboardPayload) error {
	log := queue.Logger(ctx).With(slog.String("tenant", p.TenantID))
	names, err := tenants.NamesFor(a.cfg.Fleet, p.TenantID)
	if err != nil {
		return err
	}
	taskID, _ := asynq.GetTaskID(ctx)
	release, err := a.lease(ctx, p.TenantID, "offboard:"+taskID)
	if err != nil {
		return err
	}
	defer release()
	tenant, err := a.cfg.Catalog.GetTenant(ctx, p.TenantID)
	if err != nil {
		return err
	}
	if tenant.Status == tenants.TenantOffboarded {
		return nil
	}
	if tenant.Status == tenants.TenantProvisioning {
		return fmt.Errorf("provision: tenant %s is being onboarded; offboard it once that ends", tenant.ID)
	}
	if tenant.Status != tenants.TenantOffboarding {
		if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantOffboarding, "offboarding requested by "+p.RequestedBy); err != nil {
			return err
		}
	}
	if err := a.cfg.Router.Invalidate(ctx, tenant.ID); err != nil {
		return err
	}
	details := map[string]any{"drop": p.Drop, "tier": string(tenant.Tier), "instance_id": tenant.InstanceID}
	if tenant.InstanceID != "" && tenant.Database != "" {
		inst, err := a.cfg.Catalog.GetInstance(ctx, tenant.InstanceID)
		if err != nil {
			return err
		}
		archived := ArchivedSchemaName(names.Schema, a.cfg.Now().UTC().Format("20060102"))
		err = a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
			if err := tenants.RevokeTenant(ctx, admin, names); err != nil {
				return err
			}
			if p.Drop {
				return tenants.DropTenant(ctx, admin, names)
			}
			return archiveSchema(ctx, admin, names.Schema, archived)
		})
		if err != nil {
			return err
		}
		if p.Drop {
			details["dropped"] = names.Schema
		} else {
			details["archived_schema"] = archived
		}
		if p.Drop && inst.Tier == tenants.Dedicated {
			if err := a.deleteInstance(ctx, inst); err != nil {
				return err
			}
			details["instance_deleted"] = true
		}
	}
	err = pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tenants SET status = 'offboarded', status_reason = $2,
			route_version = route_version + 1, updated_at = now() WHERE id = $1`,
			tenant.ID, "offboarded by "+p.RequestedBy); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: p.RequestedBy, Action: ActionOffboard, TenantID: tenant.ID,
			Outcome: audit.OutcomeDone, Details: details,
		})
	})
	if err != nil {
		return fmt.Errorf("provision: finish offboarding of %s: %w", tenant.ID, err)
	}
	if err := a.cfg.Router.Invalidate(ctx, tenant.ID); err != nil {
		return err
	}
	log.InfoContext(ctx, "tenant offboarded", slog.Bool("drop", p.Drop))
	return nil
}

// archiveSchema renames schema to archived, unless it is gone already (a
// previous attempt renamed it).
func archiveSchema(ctx context.Context, admin *pgxpool.Pool, schema, archived string) error {
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("provision: look up schema %s: %w", schema, err)
	}
	if !exists {
		return nil
	}
	if _, err := admin.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{schema}.Sanitize()+" RENAME TO "+pgx.Identifier{archived}.Sanitize()); err != nil {
		return fmt.Errorf("provision: archive schema %s: %w", schema, err)
	}
	return nil
}

// deleteInstance deletes a dedicated instance at the provider and records
// it deleted.
func (a *Agent) deleteInstance(ctx context.Context, inst tenants.Instance) error {
	if inst.Status == tenants.InstanceDeleted {
		return nil
	}
	a.cfg.Sessions.Forget(inst)
	if inst.ProviderRef != "" {
		if err := a.cfg.Provider.Delete(ctx, inst.ProviderRef); err != nil {
			return fmt.Errorf("provision: delete instance %s: %w", inst.ID, err)
		}
	}
	return a.cfg.Catalog.SetInstanceStatus(ctx, inst.ID, tenants.InstanceDeleted, "tenant offboarded with drop")
}
