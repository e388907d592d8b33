package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// ActionProvision is the audit action of the provisioning agent's record
// of an onboarding (the intake records tenant.onboard itself).
const ActionProvision = "tenant.provision"

// AlertOnboardFailed is the alert attribute of the ERROR log line written
// when an onboarding fails for good.
const AlertOnboardFailed = "tenant_onboard_failed"

// HandleOnboard handles tenant:onboard, the onboarding saga: load the
// intake request, create or claim the tenant row, place it, prepare the
// instance's database, ensure the tenant's role, schema and grants, migrate
// its schema, activate it, publish its route, and mark the request done.
// Each step checks what exists, so a retry after a crash at any point
// finishes the job, and one attempt at a time works on a tenant (its
// lease). A permanent failure, or any failure (a panic included) on the
// last attempt of the request's own task, marks the tenant and the request
// failed and raises the tenant_onboard_failed alert.
func (a *Agent) HandleOnboard(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.OnboardPayload](t)
	if err != nil {
		return err
	}
	taskID, inWorker := asynq.GetTaskID(ctx)
	holder := taskID
	if !inWorker {
		holder = "direct:" + strconv.FormatInt(p.RequestID, 10)
	}
	start := time.Now()
	log := queue.Logger(ctx).With(slog.String("tenant", p.TenantID), slog.Int64("request_id", p.RequestID))
	// own reports whether this task is the request's current task (the
	// intake's; others are wake-ups sent by instance:create, or a stale
	// attempt), which alone may fail the tenant or wait for its lease.
	own := func() (bool, error) {
		if !inWorker {
			return true, nil
		}
		rec, err := a.store.IntakeRequest(ctx, p.RequestID)
		if errors.Is(err, controlplane.ErrIntakeRequestNotFound) {
			return true, nil
		}
		return err == nil && onboardTaskID(rec) == taskID, err
	}
	// outcome runs before the tenant's lease is released: a wake-up task
	// that takes the lease next must find the tenant and the request
	// already failed, not re-claim the tenant between the two updates.
	outcome := func(err error) error {
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrBusy) || errors.Is(err, ErrLeaseLost):
			// Another attempt holds the tenant's lease (or took it from
			// this one): wait for it without spending the retry budget or
			// failing a tenant it works on. A wake-up just gives up.
			mine, oerr := own()
			if oerr != nil {
				return errors.Join(err, oerr)
			}
			if !mine {
				log.DebugContext(ctx, "onboarding already running in another task", slog.Any("reason", err))
				return nil
			}
			if errors.Is(err, ErrLeaseLost) {
				log.WarnContext(ctx, "onboarding stopped: its lease was lost", slog.Any("reason", err))
			}
			return queue.NotReady(a.cfg.WaitRetryDelay, err)
		case errors.Is(err, ErrWaitingForInstance):
			// Waiting for an instance being created is not a failure: it
			// ends when instance:check marks the instance ready or failed,
			// so the onboarding keeps its retry budget for real errors.
			log.InfoContext(ctx, "onboarding waits for an instance", slog.Any("reason", err))
			return queue.NotReady(a.cfg.WaitRetryDelay, err)
		case errors.Is(err, ErrPermanent):
			return a.failFor(ctx, p, err, start)
		case lastAttempt(ctx):
			mine, oerr := own()
			if oerr != nil {
				// Archived without an outcome: the intake reconciler
				// fails the request.
				return errors.Join(err, oerr)
			}
			if mine {
				return a.failFor(ctx, p, err, start)
			}
			a.recordError(ctx, p.TenantID, err)
			return err
		default:
			a.recordError(ctx, p.TenantID, err)
			return err
		}
	}
	return a.onboard(ctx, p, holder, outcome)
}

// onboardTaskID is the id of rec's current tenant:onboard task.
func onboardTaskID(rec controlplane.IntakeRequest) string {
	return queue.OnboardAttemptTaskID(rec.ID, rec.TaskAttempt)
}

// failFor fails the onboarding for good and tells Asynq not to retry.
func (a *Agent) failFor(ctx context.Context, p queue.OnboardPayload, err error, start time.Time) error {
	if ferr := a.fail(ctx, p, err, time.Since(start)); ferr != nil {
		return errors.Join(err, ferr)
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// onboard takes the tenant's lease for holder, runs the saga under it (in
// the lease's context, which ends if the lease is lost), and passes its
// error to outcome while still holding the lease.
func (a *Agent) onboard(ctx context.Context, p queue.OnboardPayload, holder string, outcome func(error) error) error {
	names, err := tenants.NamesFor(a.cfg.Fleet, p.TenantID)
	if err != nil {
		return outcome(fmt.Errorf("%w: %w", ErrPermanent, err))
	}
	l, err := a.holdLease(ctx, p.TenantID, holder)
	if err != nil {
		return outcome(err)
	}
	defer l.release()
	err = a.runSaga(l, p, names)
	if err != nil && l.lost() && !errors.Is(err, ErrLeaseLost) {
		err = fmt.Errorf("%w: %w", context.Cause(l.ctx), err)
	}
	return outcome(err)
}

// runSaga runs the saga and turns a panic into an error wrapping
// queue.ErrPanic, so that a panic on the last attempt still fails the
// onboarding instead of leaving its request unfinished.
func (a *Agent) runSaga(l *tenantLease, p queue.OnboardPayload, names tenants.Names) (err error) {
	defer func() {
		if r := recover(); r != nil {
			queue.Logger(l.ctx).ErrorContext(l.ctx, "onboarding panicked", slog.String("tenant", p.TenantID),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("%w: %v", queue.ErrPanic, r)
		}
	}()
	return a.saga(l.ctx, p, names, l)
}

// saga runs the onboarding steps; the caller holds the tenant's lease l,
// and ctx ends if it is lost.
func (a *Agent) saga(ctx context.Context, p queue.OnboardPayload, names tenants.Names, l *tenantLease) error {
	rec, err := a.store.IntakeRequest(ctx, p.RequestID)
	if errors.Is(err, controlplane.ErrIntakeRequestNotFound) {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if err != nil {
		return err
	}
	if rec.TenantID != p.TenantID {
		return fmt.Errorf("%w: request %d is for tenant %s, not %s", ErrPermanent, rec.ID, rec.TenantID, p.TenantID)
	}
	if rec.Status.Finished() {
		return nil // done, or failed for good: a late duplicate
	}
	if err := a.step(ctx, p.TenantID, StepLoad); err != nil {
		return err
	}

	tenant, err := a.claim(ctx, rec)
	if err != nil {
		return err
	}
	if err := a.step(ctx, tenant.ID, StepClaim); err != nil {
		return err
	}

	inst, err := a.place(ctx, tenant, names)
	if err != nil {
		return err
	}
	if tenant, err = a.cfg.Catalog.GetTenant(ctx, tenant.ID); err != nil {
		return err
	}
	if tenant.Database != inst.Database || tenant.Schema != names.Schema || tenant.Role != names.Role {
		// A dedicated tenant learns its database once its instance is
		// ready.
		if _, err := a.cfg.Catalog.SetTenantPlacement(ctx, tenant.ID, controlplane.Placement{
			InstanceID: inst.ID, Database: inst.Database, Schema: names.Schema, Role: names.Role,
		}); err != nil {
			return err
		}
	}
	if err := a.step(ctx, tenant.ID, StepPlace); err != nil {
		return err
	}

	if err := a.prepare(ctx, inst); err != nil {
		return err
	}
	if err := a.step(ctx, tenant.ID, StepPrepare); err != nil {
		return err
	}

	if err := a.withDDL(ctx, inst, func(ctx context.Context, admin *pgxpool.Pool) error {
		if err := a.restoreSchema(ctx, admin, rec, names); err != nil {
			return err
		}
		if err := tenants.EnsureTenant(ctx, admin, names); err != nil {
			return err
		}
		return a.cfg.Sessions.EnableLogin(ctx, admin, names)
	}); err != nil {
		return err
	}
	if err := a.step(ctx, tenant.ID, StepEnsure); err != nil {
		return err
	}

	res, err := a.migrate(ctx, inst, names)
	if err != nil {
		return fmt.Errorf("provision: migrate %s: %w", tenant.ID, err)
	}
	if err := a.step(ctx, tenant.ID, StepMigrate); err != nil {
		return err
	}

	if tenant.Status != tenants.TenantActive {
		if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantActive, ""); err != nil {
			return err
		}
	}
	if err := a.step(ctx, tenant.ID, StepActivate); err != nil {
		return err
	}

	if err := a.cfg.Router.Publish(ctx, tenant.ID); err != nil {
		return err
	}
	if err := a.step(ctx, tenant.ID, StepPublish); err != nil {
		return err
	}

	// The last step commits only while this attempt holds the lease, and
	// records the completion once: a copy that finds the request done
	// writes nothing.
	marked := false
	err = pgx.BeginFunc(ctx, a.cfg.DB, func(tx pgx.Tx) error {
		if err := l.fence(ctx, tx); err != nil {
			return err
		}
		var err error
		if marked, err = a.cfg.Intake.MarkDoneTx(ctx, tx, rec.ID); err != nil || !marked {
			return err
		}
		if err := controlplane.NewStore(tx).SetOnboardingStep(ctx, tenant.ID, StepDone); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{
			Actor: rec.RequestedBy, Action: ActionProvision, TenantID: tenant.ID, Ticket: rec.TicketKey,
			Outcome: audit.OutcomeDone,
			Details: map[string]any{
				"request_id": rec.ID, "tier": string(tenant.Tier), "instance_id": inst.ID,
				"database": inst.Database, "schema": names.Schema, "schema_version": res.After,
			},
		})
	})
	if err != nil {
		return fmt.Errorf("provision: finish onboarding of %s: %w", tenant.ID, err)
	}
	if !marked {
		return nil // finished by another attempt
	}
	queue.Logger(ctx).InfoContext(ctx, "tenant onboarded", slog.String("tenant", tenant.ID),
		slog.String("tier", string(tenant.Tier)), slog.String("instance", inst.ID))
	return a.hook(StepDone)
}

// migrate brings the tenant's schema to the latest version in a session
// that logs in as the tenant itself.
func (a *Agent) migrate(ctx context.Context, inst controlplane.Instance, names tenants.Names) (migrations.Result, error) {
	pool, err := a.cfg.Sessions.Tenant(ctx, inst, names, 1)
	if err != nil {
		return migrations.Result{}, err
	}
	defer pool.Close()
	return a.cfg.Migrator.Up(ctx, pool, migrations.Target{Schema: names.Schema, Role: names.Role})
}

// step records that step completed and runs the test hook.
func (a *Agent) step(ctx context.Context, tenantID, step string) error {
	if err := a.recordStep(ctx, tenantID, step); err != nil {
		return err
	}
	return a.hook(step)
}

func (a *Agent) hook(step string) error {
	if a.cfg.afterStep == nil {
		return nil
	}
	return a.cfg.afterStep(step)
}

// claim creates the tenant row in status provisioning, or takes over the
// existing one (a retry, a new request for a tenant whose onboarding
// failed, or a re-onboarding of an offboarded tenant: reclaim), and
// records the onboarding's progress row.
func (a *Agent) claim(ctx context.Context, rec controlplane.IntakeRequest) (controlplane.Tenant, error) {
	if rec.Restore {
		if _, err := a.cfg.Catalog.GetTenant(ctx, rec.TenantID); errors.Is(err, tenants.ErrTenantNotFound) {
			return controlplane.Tenant{}, fmt.Errorf("%w: tenant %s was never offboarded: nothing to restore", ErrPermanent, rec.TenantID)
		}
	}
	tenant, err := a.cfg.Catalog.CreateTenant(ctx, controlplane.Tenant{
		ID: rec.TenantID, Name: rec.Name, Tier: rec.Tier, Status: tenants.TenantProvisioning, Isolation: rec.Isolation,
	})
	if errors.Is(err, controlplane.ErrTenantExists) {
		tenant, err = a.cfg.Catalog.GetTenant(ctx, rec.TenantID)
		if err != nil {
			return controlplane.Tenant{}, err
		}
		switch {
		case tenant.Status == tenants.TenantOffboarding:
			return controlplane.Tenant{}, fmt.Errorf("%w: tenant %s is being offboarded; onboard it again once that ends", ErrPermanent, tenant.ID)
		case tenant.Status == tenants.TenantOffboarded:
			// Re-onboarding: fresh, or restoring its archived schema; but
			// never by a request older than the offboarding (a copy of the
			// onboarding that was still in flight when it was asked for).
			if err := a.checkNewerThanOffboarding(ctx, rec); err != nil {
				return controlplane.Tenant{}, err
			}
			if tenant, err = a.reclaim(ctx, rec); err != nil {
				return controlplane.Tenant{}, err
			}
		case rec.Restore:
			if err := a.claimRestore(ctx, tenant, rec); err != nil {
				return controlplane.Tenant{}, err
			}
			if tenant.Status == tenants.TenantPending || tenant.Status == tenants.TenantFailed {
				if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantProvisioning, ""); err != nil {
					return controlplane.Tenant{}, err
				}
				tenant.Status = tenants.TenantProvisioning
			}
		case tenant.Tier != rec.Tier:
			return controlplane.Tenant{}, fmt.Errorf("%w: tenant %s exists with tier %s, request asks for %s", ErrPermanent, tenant.ID, tenant.Tier, rec.Tier)
		case tenant.Status == tenants.TenantPending || tenant.Status == tenants.TenantFailed:
			if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantProvisioning, ""); err != nil {
				return controlplane.Tenant{}, err
			}
			tenant.Status = tenants.TenantProvisioning
		}
	} else if err != nil {
		if errors.Is(err, tenants.ErrInvalidValue) || errors.Is(err, tenants.ErrInvalidID) || errors.Is(err, tenants.ErrInvalidIsolation) {
			err = fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return controlplane.Tenant{}, err
	} else if rec.Restore {
		return controlplane.Tenant{}, fmt.Errorf("%w: tenant %s was never offboarded: nothing to restore", ErrPermanent, rec.TenantID)
	}
	// An existing tenant (a retry, a re-onboarding) takes the isolation
	// the request asks for; routes are published when it becomes active.
	if rec.Isolation != "" && tenant.Isolation != rec.Isolation {
		if _, err := a.cfg.Catalog.SetTenantIsolation(ctx, tenant.ID, rec.Isolation); err != nil {
			return controlplane.Tenant{}, err
		}
		tenant.Isolation = rec.Isolation
	}
	if err := a.recordStart(ctx, tenant.ID, rec.ID); err != nil {
		return controlplane.Tenant{}, err
	}
	return tenant, nil
}

// checkNewerThanOffboarding refuses, for good, an onboarding request made
// before the tenant's latest offboarding: the offboarding superseded it. A
// re-onboarding is a new request.
func (a *Agent) checkNewerThanOffboarding(ctx context.Context, rec controlplane.IntakeRequest) error {
	superseded, err := a.store.OffboardRequestedSince(ctx, rec.TenantID, rec.CreatedAt)
	if err != nil {
		return err
	}
	if superseded {
		return fmt.Errorf("%w: request %d for tenant %s predates its offboarding, which superseded it", ErrPermanent, rec.ID, rec.TenantID)
	}
	return nil
}

// fail marks the onboarding failed for good: the tenant (unless it made it
// to active), the intake request, the progress row; then it raises the
// alert.
func (a *Agent) fail(ctx context.Context, p queue.OnboardPayload, cause error, took time.Duration) error {
	ctx = context.WithoutCancel(ctx)
	reason := cause.Error()
	var errs []error
	tenant, err := a.cfg.Catalog.GetTenant(ctx, p.TenantID)
	switch {
	case err == nil && tenant.Status == tenants.TenantProvisioning || err == nil && tenant.Status == tenants.TenantPending:
		if _, err := a.cfg.Catalog.SetTenantStatus(ctx, tenant.ID, tenants.TenantFailed, reason); err != nil {
			errs = append(errs, err)
		} else if err := a.cfg.Router.Invalidate(ctx, tenant.ID); err != nil {
			errs = append(errs, err)
		}
	case err != nil && !errors.Is(err, tenants.ErrTenantNotFound):
		errs = append(errs, err)
	}
	if err := a.cfg.Intake.MarkFailed(ctx, p.RequestID, reason); err != nil &&
		!errors.Is(err, controlplane.ErrIntakeRequestDone) && !errors.Is(err, controlplane.ErrIntakeRequestNotFound) {
		errs = append(errs, err)
	}
	a.recordError(ctx, p.TenantID, cause)
	retried, _ := asynq.GetRetryCount(ctx)
	queue.Logger(ctx).ErrorContext(ctx, "tenant onboarding failed",
		slog.String("alert", AlertOnboardFailed),
		slog.String("tenant", p.TenantID),
		slog.Int64("request_id", p.RequestID),
		slog.Int("retried", retried),
		slog.Duration("took", took),
		slog.String("reason", reason))
	return errors.Join(errs...)
}
