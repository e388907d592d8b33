package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// ErrRunNotFound means no run has the id (the control plane's
// ErrMigrationRunNotFound).
var ErrRunNotFound = controlplane.ErrMigrationRunNotFound

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

// Counts are a run's tenants by state: the control plane's
// MigrationRunCounts with JSON names.
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

// TenantResult is one tenant's result within a run: the control plane's
// MigrationTenantResult with JSON names (same fields, so one converts to
// the other).
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

// Progress returns the run and its counts, without the per-tenant results:
// cheap enough to poll for a progress bar.
func (r *Runner) Progress(ctx context.Context, runID int64) (RunStatus, error) {
	run, err := r.store.MigrationRun(ctx, runID)
	if err != nil {
		return RunStatus{}, err
	}
	return RunStatus{ID: run.ID, Status: run.Status, Phase: string(run.Phase), Reason: run.Reason,
		TargetVersion: run.TargetVersion, Instance: run.InstanceID, Concurrency: run.Concurrency, Canary: run.Canary,
		Thresholds:  Thresholds{CPUPercent: run.CPUThreshold, ReplicaLag: run.LagThreshold},
		RequestedBy: run.RequestedBy, CreatedAt: run.CreatedAt, FinishedAt: run.FinishedAt,
		Counts: Counts(run.Counts)}, nil
}

// Status returns the run, its counts and every tenant's result.
func (r *Runner) Status(ctx context.Context, runID int64) (RunStatus, error) {
	st, err := r.Progress(ctx, runID)
	if err != nil {
		return st, err
	}
	rows, err := r.store.MigrationRunTenants(ctx, runID)
	if err != nil {
		return st, err
	}
	st.Tenants = make([]TenantResult, len(rows))
	for i, t := range rows {
		st.Tenants[i] = TenantResult(t)
	}
	return st, nil
}

// LatestRun returns the id of the most recent run, or ErrRunNotFound.
func (r *Runner) LatestRun(ctx context.Context) (int64, error) {
	return r.store.LatestMigrationRunID(ctx)
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
