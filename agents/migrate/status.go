package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrRunNotFound means no run has the id.
var ErrRunNotFound = errors.New("migrate: run not found")

// RunStatus is a run and where each of its tenants stands.
type RunStatus struct {
	ID            int64
	Status        RunState
	Phase         string
	Reason        string
	TargetVersion int64
	Instance      string
	Concurrency   int
	Canary        int
	Thresholds    Thresholds
	RequestedBy   string
	CreatedAt     time.Time
	FinishedAt    *time.Time
	// Counts are the tenants by state.
	Counts Counts
	// Tenants are the per-tenant results in run order; empty from
	// Progress.
	Tenants []TenantResult
}

// Counts are a run's tenants by state.
type Counts struct {
	Total     int
	Pending   int
	Running   int
	Paused    int
	Succeeded int
	Failed    int
}

// Finished is how many tenants are succeeded or failed.
func (c Counts) Finished() int { return c.Succeeded + c.Failed }

// TenantResult is one tenant's result within a run.
type TenantResult struct {
	TenantID string
	Instance string
	Canary   bool
	Status   TenantState
	// Reason says why a pending or paused tenant waits.
	Reason string
	// VersionBefore is the version when the run first reached the tenant;
	// VersionAfter the version after its last attempt. Nil until known.
	VersionBefore *int64
	VersionAfter  *int64
	Attempts      int
	// Duration is the wall time of the last attempt.
	Duration   time.Duration
	Error      string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Failed returns the failed tenants of st.
func (st RunStatus) Failed() []TenantResult {
	var out []TenantResult
	for _, t := range st.Tenants {
		if t.Status == TenantFailed {
			out = append(out, t)
		}
	}
	return out
}

const runSQL = `SELECT r.id, r.status, r.phase, r.status_reason, r.target_version, r.instance_id, r.concurrency,
	r.canary, r.cpu_threshold, r.lag_threshold_ms, r.requested_by, r.created_at, r.finished_at,
	c.total, c.pending, c.running, c.paused, c.succeeded, c.failed
	FROM migration_runs r, LATERAL (SELECT count(*) AS total,
		count(*) FILTER (WHERE status = 'pending') AS pending,
		count(*) FILTER (WHERE status = 'running') AS running,
		count(*) FILTER (WHERE status = 'paused') AS paused,
		count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
		count(*) FILTER (WHERE status = 'failed') AS failed
		FROM migration_run_tenants WHERE run_id = r.id) c
	WHERE r.id = $1`

// Progress returns the run and its counts, without the per-tenant results:
// cheap enough to poll for a progress bar.
func (r *Runner) Progress(ctx context.Context, runID int64) (RunStatus, error) {
	var st RunStatus
	var lagMS int64
	c := &st.Counts
	err := r.cfg.DB.QueryRow(ctx, runSQL, runID).Scan(&st.ID, &st.Status, &st.Phase, &st.Reason,
		&st.TargetVersion, &st.Instance, &st.Concurrency, &st.Canary, &st.Thresholds.CPUPercent, &lagMS,
		&st.RequestedBy, &st.CreatedAt, &st.FinishedAt,
		&c.Total, &c.Pending, &c.Running, &c.Paused, &c.Succeeded, &c.Failed)
	if errors.Is(err, pgx.ErrNoRows) {
		return RunStatus{}, fmt.Errorf("%w: %d", ErrRunNotFound, runID)
	}
	if err != nil {
		return RunStatus{}, fmt.Errorf("migrate: read run %d: %w", runID, err)
	}
	st.Thresholds.ReplicaLag = time.Duration(lagMS) * time.Millisecond
	return st, nil
}

// Status returns the run, its counts and every tenant's result.
func (r *Runner) Status(ctx context.Context, runID int64) (RunStatus, error) {
	st, err := r.Progress(ctx, runID)
	if err != nil {
		return st, err
	}
	rows, err := r.cfg.DB.Query(ctx, `SELECT tenant_id, instance_id, canary, status, reason, version_before,
		version_after, attempts, coalesce(duration_ms, 0), error, started_at, finished_at
		FROM migration_run_tenants WHERE run_id = $1 ORDER BY ordinal`, runID)
	if err != nil {
		return st, fmt.Errorf("migrate: read tenants of run %d: %w", runID, err)
	}
	st.Tenants, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (TenantResult, error) {
		var t TenantResult
		var ms int64
		err := row.Scan(&t.TenantID, &t.Instance, &t.Canary, &t.Status, &t.Reason, &t.VersionBefore,
			&t.VersionAfter, &t.Attempts, &ms, &t.Error, &t.StartedAt, &t.FinishedAt)
		t.Duration = time.Duration(ms) * time.Millisecond
		return t, err
	})
	if err != nil {
		return st, fmt.Errorf("migrate: read tenants of run %d: %w", runID, err)
	}
	return st, nil
}

// LatestRun returns the id of the most recent run, or ErrRunNotFound.
func (r *Runner) LatestRun(ctx context.Context) (int64, error) {
	var id int64
	err := r.cfg.DB.QueryRow(ctx, `SELECT id FROM migration_runs ORDER BY id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrRunNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: latest run: %w", err)
	}
	return id, nil
}

// Wait polls the run's Progress every poll (default 250ms) until it is
// finished or ctx ends, calling progress (when not nil) with each reading,
// and returns the final Status.
func (r *Runner) Wait(ctx context.Context, runID int64, poll time.Duration, progress func(RunStatus)) (RunStatus, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		st, err := r.Progress(ctx, runID)
		if err != nil {
			return st, err
		}
		if progress != nil {
			progress(st)
		}
		if st.Status.Finished() {
			return r.Status(ctx, runID)
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("migrate: wait for run %d: %w", runID, ctx.Err())
		case <-ticker.C:
		}
	}
}
