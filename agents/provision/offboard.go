package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ActionOffboard is the audit action of offboardings.
const ActionOffboard = offboard.AuditOffboard

// ArchivedSchemaName is the name an offboarded tenant's schema is renamed
// to: "archived_<schema>_<yyyymmdd>" (at most 60 bytes). A second archive
// of the same schema on the same day gets "_2", "_3", ... up to "_99".
func ArchivedSchemaName(schema, date string) string { return "archived_" + schema + "_" + date }

// offboardStepData is the test hook's name for the point where an
// offboarding has dealt with the data but not yet recorded it.
const offboardStepData = "offboard-data"

// maxArchivesPerDay bounds the suffixes ArchivedSchemaName takes on one
// day, which keeps archive names within PostgreSQL's 63 bytes.
const maxArchivesPerDay = 99

// HandleOffboard handles tenant:offboard and tenant:purge, each for one
// request stored by agents/offboard. The route goes first (status
// offboarding and a router invalidation, so no process keeps routing to
// the tenant), then access (the application role loses its membership of
// the tenant role, the tenant role its login), then the data: an archive
// renames the schema to the name planned in tenant_archives; a drop or a
// purge drops the schema, every archive of it and the tenant role (and a
// dedicated tenant's instance). The tenant ends offboarded and the request
// done in one transaction with the audit entry. Every step is idempotent,
// so a retry after a crash anywhere finishes the job. A permanent failure,
// or any failure on the task's last attempt, marks the request failed and
// raises the tenant_offboard_failed alert; the tenant stays offboarding
// (not routed) until offboarded again.
func (a *Agent) HandleOffboard(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.OffboardPayload](t)
	if err != nil {
		return err
	}
	rec, err := a.offboardRequest(ctx, t.Type(), p)
	if errors.Is(err, offboard.ErrConflict) && p.RequestID == 0 {
		queue.Logger(ctx).InfoContext(ctx, "offboarding task of an older fleet has nothing to do",
			slog.String("tenant", p.TenantID), slog.Any("reason", err))
		return nil
	}
	if err != nil {
		if permanentOffboard(err) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	err = a.offboardLeased(ctx, rec)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBusy):
		// An onboarding holds the tenant: wait for it without spending
		// the retry budget.
		return queue.NotReady(a.cfg.WaitRetryDelay, err)
	case permanentOffboard(err) || lastAttempt(ctx):
		if ferr := a.failOffboard(ctx, rec, err); ferr != nil {
			return errors.Join(err, ferr)
		}
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	default:
		return err
	}
}

func permanentOffboard(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, tenants.ErrTenantNotFound) ||
		errors.Is(err, tenants.ErrInvalidID) || errors.Is(err, offboard.ErrNotFound) ||
		errors.Is(err, offboard.ErrInvalidRequest) || errors.Is(err, offboard.ErrConflict)
}

// offboardRequest reads the stored request the task carries out. A task
// enqueued by a fleet without the outbox names none: its request is
// stored now.
func (a *Agent) offboardRequest(ctx context.Context, taskType string, p queue.OffboardPayload) (offboard.Record, error) {
	if p.RequestID == 0 {
		action := offboard.ActionArchive
		switch {
		case taskType == queue.TypeTenantPurge:
			action = offboard.ActionPurge
		case p.Drop:
			action = offboard.ActionDrop
		}
		return offboard.Store(ctx, a.cfg.DB, offboard.Request{TenantID: p.TenantID, Action: action, RequestedBy: p.RequestedBy})
	}
	rec, err := a.store.OffboardRequest(ctx, p.RequestID)
	if err != nil {
		return offboard.Record{}, err
	}
	if rec.TenantID != p.TenantID {
		return offboard.Record{}, fmt.Errorf("%w: offboarding request %d is for tenant %s, not %s", ErrPermanent, rec.ID, rec.TenantID, p.TenantID)
	}
	return rec, nil
}

// offboardLeased carries out rec holding the tenant's lease, so no
// onboarding works on the tenant meanwhile.
func (a *Agent) offboardLeased(ctx context.Context, rec offboard.Record) error {
	if rec.Status.Finished() {
		return nil // a late duplicate
	}
	names, err := tenants.NamesFor(a.cfg.Fleet, rec.TenantID)
	if err != nil {
		return err
	}
	release, err := a.lease(ctx, rec.TenantID, offboard.TaskID(rec.ID))
	if err != nil {
		return err
	}
	defer release()
	return a.offboard(ctx, rec, names)
}

// offboard runs the offboarding's steps; the caller holds the lease.
func (a *Agent) offboard(ctx context.Context, rec offboard.Record, names tenants.Names) error {
	tenant, err := a.cfg.Catalog.GetTenant(ctx, rec.TenantID)
	if err != nil {
		return err
	}
	if tenant.Status != tenants.TenantOffboarding {
		// An onboarding that raced the request may have activated the
		// tenant again after it was marked offboarding.
		if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantOffboarding,
			string(rec.Action)+" requested by "+rec.RequestedBy); err != nil {
			return err
		}
	}
	if err := a.cfg.Router.Invalidate(ctx, tenant.ID); err != nil {
		return err
	}
	details := map[string]any{"drop": rec.Action.Destroys(), "tier": string(tenant.Tier), "instance_id": tenant.InstanceID}
	archived := false
	if rec.Action == offboard.ActionArchive {
		if archived, err = a.archiveTenant(ctx, rec, tenant, names, details); err != nil {
			return err
		}
	} else if err := a.purgeTenant(ctx, tenant, names, details); err != nil {
		return err
	}
	if err := a.hook(offboardStepData); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		st := controlplane.NewStore(tx)
		if _, err := st.SetTenantStatus(ctx, tenant.ID, tenants.TenantOffboarded, offboardedReason(rec)); err != nil {
			return err
		}
		if archived {
			if err := st.MarkTenantArchived(ctx, rec.ID); err != nil {
				return err
			}
		}
		if rec.Action.Destroys() {
			if err := st.MarkTenantArchivesPurged(ctx, tenant.ID); err != nil {
				return err
			}
		}
		return offboard.MarkDoneTx(ctx, tx, rec.ID, details)
	})
	if err != nil {
		return fmt.Errorf("provision: finish offboarding of %s: %w", tenant.ID, err)
	}
	if err := a.cfg.Router.Invalidate(ctx, tenant.ID); err != nil {
		return err
	}
	queue.Logger(ctx).InfoContext(ctx, "tenant offboarded", slog.String("tenant", tenant.ID),
		slog.String("action", string(rec.Action)), slog.Bool("drop", rec.Action.Destroys()))
	return nil
}

func offboardedReason(rec offboard.Record) string {
	switch rec.Action {
	case offboard.ActionPurge:
		return "purged by " + rec.RequestedBy
	case offboard.ActionDrop:
		return "offboarded (dropped) by " + rec.RequestedBy
	}
	return "offboarded by " + rec.RequestedBy
}

// archiveTenant revokes the tenant's access and renames its schema to the
// archive name planned for rec (planned now on the first attempt). It
// reports whether the archive exists afterwards.
func (a *Agent) archiveTenant(ctx context.Context, rec offboard.Record, tenant controlplane.Tenant, names tenants.Names, details map[string]any) (bool, error) {
	if tenant.InstanceID == "" || tenant.Database == "" {
		return false, nil // never placed: no data
	}
	inst, err := a.cfg.Catalog.GetInstance(ctx, tenant.InstanceID)
	if err != nil {
		return false, err
	}
	plan, planned, err := a.store.PlannedTenantArchive(ctx, rec.ID)
	if err != nil {
		return false, err
	}
	if !planned {
		name, err := a.freeArchiveName(ctx, inst, names.Schema)
		if err != nil {
			return false, err
		}
		if plan, err = a.store.PlanTenantArchive(ctx, controlplane.TenantArchive{
			TenantID: tenant.ID, RequestID: rec.ID, InstanceID: inst.ID, Database: inst.Database, Schema: name,
		}); err != nil {
			return false, err
		}
	}
	var archived bool
	err = a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
		if err := tenants.RevokeTenant(ctx, admin, names); err != nil {
			return err
		}
		archived, err = archiveSchema(ctx, admin, names.Schema, plan.Schema)
		return err
	})
	if err != nil {
		return false, err
	}
	if archived {
		details["archived_schema"] = plan.Schema
	}
	return archived, nil
}

// freeArchiveName returns the first of ArchivedSchemaName(schema, today),
// then with "_2" ... "_99", that no schema of inst's database has (a
// catalog read).
func (a *Agent) freeArchiveName(ctx context.Context, inst controlplane.Instance, schema string) (string, error) {
	base := ArchivedSchemaName(schema, a.cfg.Now().UTC().Format("20060102"))
	candidates := []string{base}
	for n := 2; n <= maxArchivesPerDay; n++ {
		candidates = append(candidates, fmt.Sprintf("%s_%d", base, n))
	}
	admin, err := a.cfg.Sessions.Admin(ctx, inst)
	if err != nil {
		return "", err
	}
	rows, err := admin.Query(ctx, `SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY($1)`, candidates)
	if err != nil {
		return "", fmt.Errorf("provision: list archives of %s: %w", schema, err)
	}
	taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("provision: list archives of %s: %w", schema, err)
	}
	used := make(map[string]bool, len(taken))
	for _, s := range taken {
		used[s] = true
	}
	for _, c := range candidates {
		if !used[c] {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %d archives of %s today already; purge some first", ErrPermanent, maxArchivesPerDay, schema)
}

// archiveSchema renames schema to archived unless a previous attempt did,
// and reports whether the archive exists.
func archiveSchema(ctx context.Context, admin *pgxpool.Pool, schema, archived string) (bool, error) {
	live, err := schemaExists(ctx, admin, schema)
	if err != nil || !live {
		if err != nil {
			return false, err
		}
		return schemaExists(ctx, admin, archived)
	}
	if _, err := admin.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{schema}.Sanitize()+" RENAME TO "+pgx.Identifier{archived}.Sanitize()); err != nil {
		return false, fmt.Errorf("provision: archive schema %s: %w", schema, err)
	}
	return true, nil
}

// schemaExists reads the catalog of admin's database.
func schemaExists(ctx context.Context, admin *pgxpool.Pool, schema string) (bool, error) {
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return false, fmt.Errorf("provision: look up schema %s: %w", schema, err)
	}
	return exists, nil
}

// failOffboard marks the request failed for good and raises the alert.
func (a *Agent) failOffboard(ctx context.Context, rec offboard.Record, cause error) error {
	ctx = context.WithoutCancel(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	queue.Logger(ctx).ErrorContext(ctx, "tenant offboarding failed",
		slog.String("alert", offboard.AlertOffboardFailed),
		slog.String("tenant", rec.TenantID),
		slog.Int64("request_id", rec.ID),
		slog.String("action", string(rec.Action)),
		slog.Int("retried", retried),
		slog.String("reason", cause.Error()))
	return offboard.MarkFailed(ctx, a.cfg.DB, rec.ID, cause.Error())
}
