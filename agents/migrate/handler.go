package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// errLeaseLost cancels a migration whose semaphore lease went to another
// worker.
var errLeaseLost = errors.New("migrate: semaphore lease lost")

// recordTimeout bounds the recording of an attempt's outcome.
const recordTimeout = 10 * time.Second

// handle runs one migrate:tenant task: throttle, slot, migration, result.
// A tenant that must wait hands over to a follow-up task instead of holding
// the worker.
func (r *Runner) handle(ctx context.Context, t *asynq.Task) error {
	p, err := queue.Decode[queue.MigratePayload](t)
	if err != nil {
		return err
	}
	log := queue.Logger(ctx).With(slog.Int64("run", p.RunID), slog.String("tenant", p.TenantID))
	task, err := r.store.MigrationTask(ctx, p.RunID, p.TenantID)
	if errors.Is(err, controlplane.ErrMigrationTaskNotFound) {
		log.WarnContext(ctx, "migration task for an unknown run or tenant, dropped")
		return nil
	}
	if err != nil {
		return err
	}
	w := work{task}
	if w.Status.Finished() {
		// A task re-run after a crash, or a duplicate from Resume: the
		// tenant is done; make sure the run moves on.
		retried, _ := asynq.GetRetryCount(ctx)
		return r.advance(ctx, w, retried > 0)
	}
	if w.RunStatus != RunRunning || (w.Phase == phaseCanary && !w.Canary) {
		return nil // a stopped run; Retry enqueues the tenant again
	}
	if problem := w.placementProblem(); problem != "" {
		if err := r.setOutcome(ctx, w, outcome{Status: TenantFailed, Err: problem}); err != nil {
			return err
		}
		return r.advance(ctx, w, false)
	}
	inst, err := r.instance(ctx, w.InstanceID)
	if err != nil {
		return err
	}
	reason, err := r.throttle.check(ctx, inst, w.thresholds())
	if err != nil {
		return err
	}
	if reason != "" {
		log.DebugContext(ctx, "tenant paused", slog.String("reason", reason))
		if err := r.store.SetMigrationTenantWaiting(ctx, w.RunID, w.TenantID, TenantPaused, reason); err != nil {
			return err
		}
		return r.handOver(ctx, w, r.cfg.PauseRecheck)
	}
	lease := leaseID(w)
	ok, err := r.sem.acquire(ctx, inst.ID, lease, w.Concurrency, r.cfg.SlotWait, r.cfg.SlotPoll)
	if err != nil {
		return err
	}
	if !ok {
		if err := r.store.SetMigrationTenantWaiting(ctx, w.RunID, w.TenantID, TenantPending, fmt.Sprintf("waiting for one of %d slots on instance %s", w.Concurrency, inst.ID)); err != nil {
			return err
		}
		return r.handOver(ctx, w, 0)
	}
	o, err := r.migrate(ctx, w, inst.ID, lease, log)
	if err != nil || o.skip {
		return err
	}
	// Recorded even when the worker is stopping: the attempt happened.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.setOutcome(rec, w, o); err != nil {
		return err
	}
	switch {
	case o.Status.Finished():
		return r.advance(ctx, w, false)
	case ctx.Err() != nil:
		return ctx.Err() // shutting down: Asynq puts the task back
	default:
		return r.handOver(ctx, w, r.backoff(w.Attempts+1))
	}
}

// placementProblem reports a tenant the run cannot migrate any more.
func (w work) placementProblem() string {
	switch {
	case w.TenantStatus == "":
		return "tenant no longer exists"
	case w.TenantStatus != "active":
		return "tenant is " + w.TenantStatus + ", not active"
	case w.InstanceID == "" || w.Schema == "" || w.Role == "":
		return "tenant is not placed on an instance"
	}
	return ""
}

// migrate runs the tenant's migrations holding the slot lease, and returns
// the outcome to record; the error is for the control plane failing.
func (r *Runner) migrate(ctx context.Context, w work, instanceID, lease string, log *slog.Logger) (outcome, error) {
	defer func() {
		if err := r.sem.release(context.WithoutCancel(ctx), instanceID, lease); err != nil {
			log.WarnContext(ctx, "release semaphore (the lease expires)", slog.Any("error", err))
		}
	}()
	attempt, err := r.store.StartMigrationAttempt(ctx, w.RunID, w.TenantID)
	if err != nil || attempt == 0 {
		// attempt 0: a duplicate task finished the tenant meanwhile.
		return outcome{skip: true}, err
	}
	inst, err := r.instance(ctx, instanceID)
	if err != nil {
		return outcome{}, err
	}
	names, err := tenants.NamesFor(r.cfg.Fleet, w.TenantID)
	if err == nil && (names.Schema != w.Schema || names.Role != w.Role) {
		err = fmt.Errorf("migrate: tenant %s is recorded with schema %s and role %s, not its own", w.TenantID, w.Schema, w.Role)
	}
	if err != nil {
		return r.judge(ctx, w, attempt, migrations.Result{}, 0, err, log), nil
	}
	// The tenant's own login: the migration touches objects the tenant
	// owns and may have planted code on.
	pool, err := r.cfg.Sessions.Tenant(ctx, inst, names, 1)
	if err != nil {
		return r.judge(ctx, w, attempt, migrations.Result{}, 0, err, log), nil
	}
	defer pool.Close()
	runCtx, cancel := context.WithCancelCause(ctx)
	var keeper sync.WaitGroup
	keeper.Go(func() {
		r.sem.keep(runCtx, instanceID, lease, w.Concurrency, func(err error) { cancel(fmt.Errorf("%w: %w", errLeaseLost, err)) })
	})
	start := time.Now()
	var res migrations.Result
	if w.Statement != "" {
		err = runStatement(runCtx, pool, w, w.Statement, migrations.DefaultLockTimeout)
	} else {
		res, err = r.cfg.Migrator.UpTo(runCtx, pool, migrations.Target{Schema: w.Schema, Role: w.Role}, w.TargetVersion)
	}
	took := time.Since(start)
	if cause := context.Cause(runCtx); err != nil && errors.Is(cause, errLeaseLost) {
		err = cause
	}
	cancel(nil)
	keeper.Wait()
	if err == nil {
		log.DebugContext(ctx, "tenant migrated", slog.Int64("before", res.Before), slog.Int64("after", res.After), slog.Duration("took", took))
		if w.Statement != "" {
			return outcome{Status: TenantSucceeded, Duration: took}, nil
		}
		return outcome{Status: TenantSucceeded, Before: &res.Before, After: &res.After, Duration: took}, nil
	}
	return r.judge(ctx, w, attempt, res, took, err, log), nil
}

// judge turns a failed attempt into a retry (pending) or a failure.
func (r *Runner) judge(ctx context.Context, w work, attempt int, res migrations.Result, took time.Duration, err error, log *slog.Logger) outcome {
	o := outcome{Duration: took, Err: err.Error()}
	if res.After > 0 || res.Before > 0 || len(res.Applied) > 0 {
		o.Before, o.After = &res.Before, &res.After
	}
	switch {
	case ctx.Err() != nil:
		o.Status, o.Reason = TenantPending, "interrupted: the worker stopped"
	case errors.Is(err, errLeaseLost):
		o.Status, o.Reason = TenantPending, "slot lease lost; waiting for a slot"
	case transient(err) && attempt < r.cfg.MaxAttempts:
		o.Status = TenantPending
		o.Reason = fmt.Sprintf("attempt %d of %d failed with a transient error; retrying in %s", attempt, r.cfg.MaxAttempts, r.backoff(attempt))
		log.InfoContext(ctx, "tenant migration failed, will retry", slog.Int("attempt", attempt), slog.Any("error", err))
	default:
		o.Status = TenantFailed
		log.WarnContext(ctx, "tenant migration failed", slog.Int("attempt", attempt), slog.Any("error", err))
	}
	return o
}

// backoff is the wait before attempt+1.
func (r *Runner) backoff(attempt int) time.Duration {
	return r.cfg.RetryBackoff << min(max(attempt-1, 0), 6)
}

// handOver enqueues the follow-up of the current task after delay, if the
// current task's chain still holds the tenant. A chain replaced meanwhile
// (by Resume, or by the reconciler after Redis lost this chain's head)
// ends here: the chain holding the tenant carries on.
func (r *Runner) handOver(ctx context.Context, w work, delay time.Duration) error {
	current, _ := asynq.GetTaskID(ctx)
	if current == "" {
		current = taskID(w.RunID, w.TenantID, 0, 0)
	}
	next := nextHop(current)
	ok, err := r.chains.claim(ctx, w.RunID, w.TenantID, next, current)
	if err != nil {
		return err
	}
	if !ok {
		queue.Logger(ctx).DebugContext(ctx, "another task chain holds the tenant; this one ends",
			slog.Int64("run", w.RunID), slog.String("tenant", w.TenantID), slog.String("task_id", current))
		return nil
	}
	_, err = r.enqueue(ctx, w.RunID, w.TenantID, next, delay)
	return err
}

// advance moves the run on after one of its tenants finished: the last
// canary promotes (or stops) the run, the last tenant closes it.
// reenqueue makes a canary tenant enqueue the rest even when another task
// promoted the run (this task may be re-run after a crash between the
// promotion and the enqueue).
func (r *Runner) advance(ctx context.Context, w work, reenqueue bool) error {
	if w.Canary {
		verdict, err := r.store.MigrationCanaryVerdict(ctx, w.RunID)
		if err != nil {
			return err
		}
		switch {
		case verdict.Open > 0:
			return nil
		case verdict.Failed != "":
			stopped, err := r.store.StopMigrationRun(ctx, w.RunID, "canary tenant "+verdict.Failed+" failed")
			if err != nil || stopped {
				if stopped {
					r.log.WarnContext(ctx, "migration run stopped: canary failed", slog.Int64("run", w.RunID), slog.String("tenant", verdict.Failed))
				}
				return err
			}
		default:
			promoted, err := r.store.PromoteMigrationRun(ctx, w.RunID)
			if err != nil {
				return err
			}
			if !promoted && !reenqueue {
				break
			}
			rest, err := r.store.UnfinishedMigrationTenants(ctx, w.RunID, false)
			if err != nil {
				return err
			}
			if err := r.enqueueAll(ctx, w.RunID, rest, 0, joinChain); err != nil {
				return err
			}
		}
	}
	return r.finish(ctx, w.RunID)
}

// finish closes the run when every tenant is finished, and settles the
// recommendations it rolls out (controlplane.SettleRecommendationsOfRun):
// applied when it succeeded, its outcome recorded either way.
func (r *Runner) finish(ctx context.Context, runID int64) error {
	// One transaction: whoever sees the run finished (Wait, the API) sees
	// its recommendations settled.
	var st controlplane.MigrationRunState
	err := r.store.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		if st, err = tx.FinishMigrationRun(ctx, runID); err != nil || st == "" {
			return err
		}
		return tx.SettleRecommendationsOfRun(ctx, runID)
	})
	if err != nil || st == "" {
		return err
	}
	r.log.InfoContext(ctx, "migration run finished", slog.Int64("run", runID), slog.String("status", string(st)))
	return nil
}

func leaseID(w work) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d:%s:%s", w.RunID, w.TenantID, hex.EncodeToString(b[:]))
}
