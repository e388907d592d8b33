package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// Retry re-runs the failed tenants of a finished run: they go back to
// pending under a fresh task id and the run to running. A stopped run
// (a canary failed) re-runs its failed canaries, and the rest once they
// pass. It returns how many tenants were re-enqueued: 0 (and no change)
// when none failed. A run still running is refused with ErrRunNotFinished.
func (r *Runner) Retry(ctx context.Context, runID int64) (int, error) {
	var list []queued
	err := pgx.BeginFunc(ctx, r.cfg.DB, func(tx pgx.Tx) error {
		var st RunState
		err := tx.QueryRow(ctx, `SELECT status FROM migration_runs WHERE id = $1 FOR UPDATE`, runID).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %d", ErrRunNotFound, runID)
		}
		if err != nil {
			return err
		}
		if !st.Finished() {
			return fmt.Errorf("%w: run %d", ErrRunNotFinished, runID)
		}
		rows, err := tx.Query(ctx, `UPDATE migration_run_tenants SET status = 'pending', reason = 'retry',
			round = round + 1, attempts = 0, error = '', finished_at = NULL, updated_at = now()
			WHERE run_id = $1 AND status = 'failed' RETURNING tenant_id, round`, runID)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[queued]); err != nil || len(list) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE migration_runs SET status = 'running', status_reason = '',
			finished_at = NULL, updated_at = now() WHERE id = $1`, runID)
		return err
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
	var resumes int
	var phase string
	err := r.cfg.DB.QueryRow(ctx, `UPDATE migration_runs SET resumes = resumes + 1, updated_at = now()
		WHERE id = $1 AND status = 'running' RETURNING resumes, phase`, runID).Scan(&resumes, &phase)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := r.Progress(ctx, runID); err != nil {
			return 0, err
		}
		return 0, nil // finished: nothing to resume
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: resume run %d: %w", runID, err)
	}
	list, err := r.unfinishedTenants(ctx, runID, phase == phaseCanary)
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, r.settle(ctx, runID, phase)
	}
	r.log.InfoContext(ctx, "migration run resumed", slog.Int64("run", runID), slog.Int("tenants", len(list)))
	return len(list), r.enqueueAll(ctx, runID, list, resumes, replaceChain)
}

// settle moves on a running run none of whose tenants of the phase is
// unfinished: the last task died before it did. In the canary phase the
// canaries' verdict promotes (and enqueues the rest) or stops the run;
// in the main phase the run is closed.
func (r *Runner) settle(ctx context.Context, runID int64, phase string) error {
	if phase == phaseCanary {
		return r.advance(ctx, work{RunID: runID, Canary: true}, true)
	}
	_, err := r.finishRun(ctx, runID)
	return err
}

// ResumeRunning resumes every running run; a worker may call it at start,
// so a fleet restarted after a crash finishes its runs without waiting for
// Asynq to recover the dead worker's tasks. It returns the number of
// tenants enqueued. The reconciler (Reconcile) is the gentler repair: it
// enqueues only the tenants whose task is gone.
func (r *Runner) ResumeRunning(ctx context.Context) (int, error) {
	rows, err := r.cfg.DB.Query(ctx, `SELECT id FROM migration_runs WHERE status = 'running' ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("migrate: list running runs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("migrate: list running runs: %w", err)
	}
	total := 0
	var errs []error
	for _, id := range ids {
		n, err := r.Resume(ctx, id)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}
