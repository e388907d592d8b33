package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Retry re-runs the failed tenants of a finished run: they go back to
// pending under a fresh task id and the run to running. A stopped run
// (a canary failed) re-runs its failed canaries, and the rest once they
// pass. It returns how many tenants were re-enqueued: 0 (and no change)
// when none failed. A run still running is refused with ErrRunNotFinished.
func (r *Runner) Retry(ctx context.Context, runID int64) (int, error) {
	var list []queued
	err := r.store.Tx(ctx, func(tx *controlplane.Store) error {
		st, err := tx.LockMigrationRun(ctx, runID)
		if err != nil {
			return err
		}
		if !st.Finished() {
			return fmt.Errorf("%w: run %d", ErrRunNotFinished, runID)
		}
		if list, err = tx.ResetFailedMigrationTenants(ctx, runID); err != nil || len(list) == 0 {
			return err
		}
		return tx.ReopenMigrationRun(ctx, runID)
	})
	if err != nil {
		return 0, fmt.Errorf("migrate: retry run %d: %w", runID, err)
	}
	if len(list) == 0 {
		return 0, nil
	}
	r.log.InfoContext(ctx, "migration run retried", slog.Int64("run", runID), slog.Int("tenants", len(list)))
	if err := r.enqueueAll(ctx, runID, list, 0, replaceChain); err != nil {
		return len(list), fmt.Errorf("%w (Resume %d enqueues the rest)", err, runID)
	}
	return len(list), nil
}

// ErrRunNotFinished refuses a Retry of a run that is still running.
var ErrRunNotFinished = errors.New("migrate: run not finished")

// Resume re-enqueues every unfinished tenant of a running run under fresh
// task ids (only the canary ones while the run is in its canary phase), and
// closes the run when nothing is left. Use it after workers, Redis or the
// whole fleet died mid-run: tenants already done are not touched, and a
// tenant whose old task is still alive somewhere is migrated once (the
// tenant lock and version table make the second task a no-op). It returns
// how many tenants were enqueued.
func (r *Runner) Resume(ctx context.Context, runID int64) (int, error) {
	resumed, running, err := r.store.CountMigrationRunResume(ctx, runID)
	if err != nil {
		return 0, err
	}
	if !running {
		if _, err := r.Progress(ctx, runID); err != nil {
			return 0, err
		}
		return 0, nil // finished: nothing to resume
	}
	list, err := r.store.UnfinishedMigrationTenants(ctx, runID, resumed.Phase == phaseCanary)
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, r.settle(ctx, runID, resumed.Phase)
	}
	r.log.InfoContext(ctx, "migration run resumed", slog.Int64("run", runID), slog.Int("tenants", len(list)))
	return len(list), r.enqueueAll(ctx, runID, list, resumed.Resumes, replaceChain)
}

// settle moves on a running run none of whose tenants of the phase is
// unfinished: the last task died before it did. In the canary phase the
// canaries' verdict promotes (and enqueues the rest) or stops the run;
// in the main phase the run is closed.
func (r *Runner) settle(ctx context.Context, runID int64, phase controlplane.MigrationPhase) error {
	if phase == phaseCanary {
		return r.advance(ctx, work{controlplane.MigrationTask{RunID: runID, Canary: true}}, true)
	}
	return r.finish(ctx, runID)
}

// ResumeRunning resumes every running run; a worker may call it at start,
// so a fleet restarted after a crash finishes its runs without waiting for
// Asynq to recover the dead worker's tasks. It returns the number of
// tenants enqueued. The reconciler (Reconcile) is the gentler repair: it
// enqueues only the tenants whose task is gone.
func (r *Runner) ResumeRunning(ctx context.Context) (int, error) {
	runs, err := r.store.RunningMigrationRuns(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, run := range runs {
		n, err := r.Resume(ctx, run.ID)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}
