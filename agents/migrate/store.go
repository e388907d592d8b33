package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// errNoWork reports a task whose run or tenant row no longer exists.
var errNoWork = errors.New("migrate: run or tenant not found")

// work is everything a tenant task needs to know, read in one round trip.
type work struct {
	RunID      int64
	TenantID   string
	RunStatus  RunState
	Phase      string
	Target     int64
	Limit      int
	Thresholds Thresholds
	Status     TenantState
	Canary     bool
	Attempts   int
	// From the catalog; empty when the tenant is gone.
	InstanceID   string
	Schema       string
	Role         string
	TenantStatus string
}

const workSQL = `
SELECT r.status, r.phase, r.target_version, r.concurrency, r.cpu_threshold, r.lag_threshold_ms,
       mt.status, mt.canary, mt.attempts,
       coalesce(t.instance_id, ''), coalesce(t.schema_name, ''), coalesce(t.role_name, ''), coalesce(t.status, '')
FROM migration_run_tenants mt
JOIN migration_runs r ON r.id = mt.run_id
LEFT JOIN tenants t ON t.id = mt.tenant_id
WHERE mt.run_id = $1 AND mt.tenant_id = $2`

func (r *Runner) loadWork(ctx context.Context, runID int64, tenantID string) (work, error) {
	w := work{RunID: runID, TenantID: tenantID}
	var lagMS int64
	err := r.cfg.DB.QueryRow(ctx, workSQL, runID, tenantID).Scan(&w.RunStatus, &w.Phase, &w.Target, &w.Limit,
		&w.Thresholds.CPUPercent, &lagMS, &w.Status, &w.Canary, &w.Attempts,
		&w.InstanceID, &w.Schema, &w.Role, &w.TenantStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return work{}, fmt.Errorf("%w: run %d tenant %s", errNoWork, runID, tenantID)
	}
	if err != nil {
		return work{}, fmt.Errorf("migrate: read run %d tenant %s: %w", runID, tenantID, err)
	}
	w.Thresholds.ReplicaLag = time.Duration(lagMS) * time.Millisecond
	return w, nil
}

// unfinishedSQL is the set of states a tenant task may still act on.
const unfinished = `status IN ('pending', 'running', 'paused')`

// setWaiting records that the tenant waits (pending or paused) and why. It
// writes only when something changes.
func (r *Runner) setWaiting(ctx context.Context, w work, status TenantState, reason string) error {
	_, err := r.cfg.DB.Exec(ctx, `UPDATE migration_run_tenants SET status = $3, reason = $4, updated_at = now()
		WHERE run_id = $1 AND tenant_id = $2 AND `+unfinished+` AND (status <> $3 OR reason <> $4)`,
		w.RunID, w.TenantID, status, reason)
	if err != nil {
		return fmt.Errorf("migrate: run %d tenant %s: set %s: %w", w.RunID, w.TenantID, status, err)
	}
	return nil
}

// setRunning counts an attempt and marks the tenant running. It returns
// the attempt number, or 0 when the tenant is no longer unfinished.
func (r *Runner) setRunning(ctx context.Context, w work) (int, error) {
	var attempt int
	err := r.cfg.DB.QueryRow(ctx, `UPDATE migration_run_tenants SET status = 'running', reason = '',
		attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now()
		WHERE run_id = $1 AND tenant_id = $2 AND `+unfinished+` RETURNING attempts`,
		w.RunID, w.TenantID).Scan(&attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: run %d tenant %s: set running: %w", w.RunID, w.TenantID, err)
	}
	return attempt, nil
}

// outcome is the record of one attempt.
type outcome struct {
	Status   TenantState
	Reason   string
	Before   *int64
	After    *int64
	Duration time.Duration
	Err      string
	// skip: nothing to record (the tenant was finished by another task).
	skip bool
}

// setOutcome records an attempt's outcome.
func (r *Runner) setOutcome(ctx context.Context, w work, o outcome) error {
	if len(o.Err) > maxTenantErrorLength {
		o.Err = o.Err[:maxTenantErrorLength]
	}
	_, err := r.cfg.DB.Exec(ctx, `UPDATE migration_run_tenants SET status = $3, reason = $4,
		version_before = coalesce(version_before, $5), version_after = coalesce($6, version_after),
		duration_ms = $7, error = $8, updated_at = now(),
		finished_at = CASE WHEN $3 IN ('succeeded', 'failed') THEN now() END
		WHERE run_id = $1 AND tenant_id = $2`,
		w.RunID, w.TenantID, o.Status, o.Reason, o.Before, o.After, o.Duration.Milliseconds(), o.Err)
	if err != nil {
		return fmt.Errorf("migrate: run %d tenant %s: record %s: %w", w.RunID, w.TenantID, o.Status, err)
	}
	return nil
}

// finishSQL closes a run whose tenants are all finished. Each tenant's
// outcome commits before its task runs this, so the last tenant to commit
// always sees the others and closes the run.
const finishSQL = `
UPDATE migration_runs SET updated_at = now(), finished_at = now(),
  status = CASE WHEN EXISTS (SELECT 1 FROM migration_run_tenants WHERE run_id = $1 AND status = 'failed')
           THEN 'failed' ELSE 'succeeded' END
WHERE id = $1 AND status = 'running' AND phase = 'main'
  AND NOT EXISTS (SELECT 1 FROM migration_run_tenants WHERE run_id = $1 AND ` + unfinished + `)
RETURNING status`

// finishRun closes the run when every tenant is finished; it returns the
// final state, or "" while tenants remain.
func (r *Runner) finishRun(ctx context.Context, runID int64) (RunState, error) {
	var st RunState
	err := r.cfg.DB.QueryRow(ctx, finishSQL, runID).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("migrate: finish run %d: %w", runID, err)
	}
	return st, nil
}

// canaryVerdict reads the canary tenants of a run: how many are not
// finished and the first failed one.
func (r *Runner) canaryVerdict(ctx context.Context, runID int64) (open int, failed string, err error) {
	err = r.cfg.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+unfinished+`),
		coalesce(min(tenant_id) FILTER (WHERE status = 'failed'), '')
		FROM migration_run_tenants WHERE run_id = $1 AND canary`, runID).Scan(&open, &failed)
	if err != nil {
		return 0, "", fmt.Errorf("migrate: read canaries of run %d: %w", runID, err)
	}
	return open, failed, nil
}

// stopRun stops a run in its canary phase.
func (r *Runner) stopRun(ctx context.Context, runID int64, reason string) (bool, error) {
	tag, err := r.cfg.DB.Exec(ctx, `UPDATE migration_runs SET status = 'stopped', status_reason = $2,
		finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'running' AND phase = 'canary'`, runID, reason)
	if err != nil {
		return false, fmt.Errorf("migrate: stop run %d: %w", runID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// promoteRun ends the canary phase; true for the caller that did it.
func (r *Runner) promoteRun(ctx context.Context, runID int64) (bool, error) {
	tag, err := r.cfg.DB.Exec(ctx, `UPDATE migration_runs SET phase = 'main', updated_at = now()
		WHERE id = $1 AND status = 'running' AND phase = 'canary'`, runID)
	if err != nil {
		return false, fmt.Errorf("migrate: promote run %d: %w", runID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// queued is a tenant whose task is to be enqueued.
type queued struct {
	TenantID string
	Round    int
}

// unfinishedTenants lists the tenants of a run that are not finished,
// canary ones only when canaryOnly.
func (r *Runner) unfinishedTenants(ctx context.Context, runID int64, canaryOnly bool) ([]queued, error) {
	rows, err := r.cfg.DB.Query(ctx, `SELECT tenant_id, round FROM migration_run_tenants
		WHERE run_id = $1 AND `+unfinished+` AND (canary OR NOT $2) ORDER BY ordinal`, runID, canaryOnly)
	if err != nil {
		return nil, fmt.Errorf("migrate: list tenants of run %d: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[queued])
	if err != nil {
		return nil, fmt.Errorf("migrate: list tenants of run %d: %w", runID, err)
	}
	return out, nil
}
