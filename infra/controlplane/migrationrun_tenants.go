package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file owns the migration_run_tenants table (migration 00020): one
// row per tenant of a migration run, with where it stands and the record of
// its last attempt.

// MigrationTenantState is the status of one tenant within a run.
type MigrationTenantState string

// Tenant states within a run.
const (
	// MigrationTenantPending: not started yet, or waiting for a slot or a
	// retry (the reason says which).
	MigrationTenantPending MigrationTenantState = "pending"
	// MigrationTenantRunning: migrating now.
	MigrationTenantRunning MigrationTenantState = "running"
	// MigrationTenantPaused: its instance is over a load threshold.
	MigrationTenantPaused MigrationTenantState = "paused"
	// MigrationTenantSucceeded: at the run's target version.
	MigrationTenantSucceeded MigrationTenantState = "succeeded"
	// MigrationTenantFailed: a migration failed.
	MigrationTenantFailed MigrationTenantState = "failed"
)

// Finished reports whether the tenant is done within its run.
func (s MigrationTenantState) Finished() bool {
	return s == MigrationTenantSucceeded || s == MigrationTenantFailed
}

// unfinishedTenant is the condition on a migration_run_tenants row that a
// tenant task may still act on.
const unfinishedTenant = `status IN ('pending', 'running', 'paused')`

// ErrMigrationTaskNotFound reports a run or tenant row that does not
// exist (any more).
var ErrMigrationTaskNotFound = errors.New("controlplane: migration run or tenant not found")

// MigrationTask is everything one tenant task of a run needs to know,
// read in one round trip: the run's settings, the tenant's row in the run
// and the tenant's placement in the catalog.
type MigrationTask struct {
	// RunID is the run.
	RunID int64
	// TenantID is the tenant.
	TenantID string
	// RunStatus is the run's status.
	RunStatus MigrationRunState
	// Phase is the run's phase.
	Phase MigrationPhase
	// TargetVersion is the version the run migrates to.
	TargetVersion int64
	// Statement is the DDL the run executes instead of the migration set;
	// "" for the migration set.
	Statement string
	// Concurrency is the most tenants migrating at once on one instance.
	Concurrency int
	// CPUThreshold pauses an instance above this CPU, in percent.
	CPUThreshold float64
	// LagThreshold pauses an instance whose replicas lag more.
	LagThreshold time.Duration
	// Status is the tenant's status within the run.
	Status MigrationTenantState
	// Canary is true for a canary tenant.
	Canary bool
	// Attempts counts the tenant's attempts in its current round.
	Attempts int
	// InstanceID, Schema, Role and TenantStatus come from the catalog;
	// empty when the tenant is gone.
	InstanceID   string
	Schema       string
	Role         string
	TenantStatus string
}

const migrationTaskSQL = `
SELECT r.status, r.phase, r.target_version, r.statement, r.concurrency, r.cpu_threshold, r.lag_threshold_ms,
       mt.status, mt.canary, mt.attempts,
       coalesce(t.instance_id, ''), coalesce(t.schema_name, ''), coalesce(t.role_name, ''), coalesce(t.status, '')
FROM migration_run_tenants mt
JOIN migration_runs r ON r.id = mt.run_id
LEFT JOIN tenants t ON t.id = mt.tenant_id
WHERE mt.run_id = $1 AND mt.tenant_id = $2`

// MigrationTask reads what the task of runID's tenant tenantID needs, or
// ErrMigrationTaskNotFound.
func (s *Store) MigrationTask(ctx context.Context, runID int64, tenantID string) (MigrationTask, error) {
	w := MigrationTask{RunID: runID, TenantID: tenantID}
	var lagMS int64
	err := s.db.QueryRow(ctx, migrationTaskSQL, runID, tenantID).Scan(&w.RunStatus, &w.Phase, &w.TargetVersion, &w.Statement,
		&w.Concurrency, &w.CPUThreshold, &lagMS, &w.Status, &w.Canary, &w.Attempts,
		&w.InstanceID, &w.Schema, &w.Role, &w.TenantStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return MigrationTask{}, fmt.Errorf("%w: run %d tenant %s", ErrMigrationTaskNotFound, runID, tenantID)
	}
	if err != nil {
		return MigrationTask{}, fmt.Errorf("controlplane: read migration run %d tenant %s: %w", runID, tenantID, err)
	}
	w.LagThreshold = time.Duration(lagMS) * time.Millisecond
	return w, nil
}

// SetMigrationTenantWaiting records that an unfinished tenant waits
// (status pending or paused) and why. It writes only when something
// changes.
func (s *Store) SetMigrationTenantWaiting(ctx context.Context, runID int64, tenantID string, status MigrationTenantState, reason string) error {
	_, err := s.db.Exec(ctx, `UPDATE migration_run_tenants SET status = $3, reason = $4, updated_at = now()
		WHERE run_id = $1 AND tenant_id = $2 AND `+unfinishedTenant+` AND (status <> $3 OR reason <> $4)`,
		runID, tenantID, status, reason)
	if err != nil {
		return fmt.Errorf("controlplane: migration run %d tenant %s: set %s: %w", runID, tenantID, status, err)
	}
	return nil
}

// StartMigrationAttempt counts an attempt of an unfinished tenant and
// marks it running. It returns the attempt number, or 0 when the tenant
// is no longer unfinished.
func (s *Store) StartMigrationAttempt(ctx context.Context, runID int64, tenantID string) (int, error) {
	var attempt int
	err := s.db.QueryRow(ctx, `UPDATE migration_run_tenants SET status = 'running', reason = '',
		attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now()
		WHERE run_id = $1 AND tenant_id = $2 AND `+unfinishedTenant+` RETURNING attempts`,
		runID, tenantID).Scan(&attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: migration run %d tenant %s: set running: %w", runID, tenantID, err)
	}
	return attempt, nil
}

// MigrationAttempt is the record of one attempt at a tenant.
type MigrationAttempt struct {
	// Status is where the tenant stands after it.
	Status MigrationTenantState
	// Reason says why a pending tenant waits.
	Reason string
	// Before is the version the attempt found; kept from the first
	// attempt that knew it. Nil: unknown.
	Before *int64
	// After is the version the attempt left. Nil: unknown (the last
	// known one is kept).
	After *int64
	// Duration is the attempt's wall time; stored in milliseconds.
	Duration time.Duration
	// Error is why it failed; "" when it did not.
	Error string
}

// RecordMigrationAttempt records an attempt's outcome; a finished status
// sets the tenant's finish time.
func (s *Store) RecordMigrationAttempt(ctx context.Context, runID int64, tenantID string, a MigrationAttempt) error {
	_, err := s.db.Exec(ctx, `UPDATE migration_run_tenants SET status = $3, reason = $4,
		version_before = coalesce(version_before, $5), version_after = coalesce($6, version_after),
		duration_ms = $7, error = $8, updated_at = now(),
		finished_at = CASE WHEN $3 IN ('succeeded', 'failed') THEN now() END
		WHERE run_id = $1 AND tenant_id = $2`,
		runID, tenantID, a.Status, a.Reason, a.Before, a.After, a.Duration.Milliseconds(), a.Error)
	if err != nil {
		return fmt.Errorf("controlplane: migration run %d tenant %s: record %s: %w", runID, tenantID, a.Status, err)
	}
	return nil
}

// CanaryVerdict is where the canary tenants of a run stand.
type CanaryVerdict struct {
	// Open is how many canaries are not finished.
	Open int
	// Failed is the first failed canary (by id); "" when none failed.
	Failed string
}

// MigrationCanaryVerdict reads the canary tenants of a run.
func (s *Store) MigrationCanaryVerdict(ctx context.Context, runID int64) (CanaryVerdict, error) {
	var v CanaryVerdict
	err := s.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+unfinishedTenant+`),
		coalesce(min(tenant_id) FILTER (WHERE status = 'failed'), '')
		FROM migration_run_tenants WHERE run_id = $1 AND canary`, runID).Scan(&v.Open, &v.Failed)
	if err != nil {
		return CanaryVerdict{}, fmt.Errorf("controlplane: read canaries of migration run %d: %w", runID, err)
	}
	return v, nil
}

// MigrationTenantRound is a tenant of a run and its round: how many times
// a retry sent it back to pending.
type MigrationTenantRound struct {
	// TenantID is the tenant.
	TenantID string
	// Round is its round.
	Round int
}

// UnfinishedMigrationTenants lists the unfinished tenants of a run in run
// order, the canary ones only when canaryOnly.
func (s *Store) UnfinishedMigrationTenants(ctx context.Context, runID int64, canaryOnly bool) ([]MigrationTenantRound, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, round FROM migration_run_tenants
		WHERE run_id = $1 AND `+unfinishedTenant+` AND (canary OR NOT $2) ORDER BY ordinal`, runID, canaryOnly)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenants of migration run %d: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MigrationTenantRound])
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenants of migration run %d: %w", runID, err)
	}
	return out, nil
}

// UnfinishedTenantPage selects one page of a run's unfinished tenants.
type UnfinishedTenantPage struct {
	// RunID is the run.
	RunID int64
	// CanaryOnly limits the page to canary tenants.
	CanaryOnly bool
	// SettledAfter is how long a row must be untouched to count as
	// settled.
	SettledAfter time.Duration
	// AfterOrdinal starts the page after this run position (0: first).
	AfterOrdinal int
	// Limit is the page size.
	Limit int
}

// UnfinishedMigrationTenant is an unfinished tenant of a run as the
// reconciler reads it.
type UnfinishedMigrationTenant struct {
	// TenantID is the tenant.
	TenantID string
	// Round is its round.
	Round int
	// Ordinal is its position in the run, the page cursor.
	Ordinal int
	// Settled: its row is untouched for SettledAfter.
	Settled bool
}

// UnfinishedMigrationTenantPage returns one page of a run's unfinished
// tenants in run order.
func (s *Store) UnfinishedMigrationTenantPage(ctx context.Context, p UnfinishedTenantPage) ([]UnfinishedMigrationTenant, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, round, ordinal, updated_at < now() - make_interval(secs => $3)
		FROM migration_run_tenants
		WHERE run_id = $1 AND `+unfinishedTenant+` AND (canary OR NOT $2) AND ordinal > $4
		ORDER BY ordinal LIMIT $5`, p.RunID, p.CanaryOnly, p.SettledAfter.Seconds(), p.AfterOrdinal, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: page tenants of migration run %d: %w", p.RunID, err)
	}
	page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UnfinishedMigrationTenant])
	if err != nil {
		return nil, fmt.Errorf("controlplane: page tenants of migration run %d: %w", p.RunID, err)
	}
	return page, nil
}

// ResetFailedMigrationTenants sends the failed tenants of a run back to
// pending in their next round, attempts and error cleared, and returns
// them.
func (s *Store) ResetFailedMigrationTenants(ctx context.Context, runID int64) ([]MigrationTenantRound, error) {
	rows, err := s.db.Query(ctx, `UPDATE migration_run_tenants SET status = 'pending', reason = 'retry',
		round = round + 1, attempts = 0, error = '', finished_at = NULL, updated_at = now()
		WHERE run_id = $1 AND status = 'failed' RETURNING tenant_id, round`, runID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: reset failed tenants of migration run %d: %w", runID, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MigrationTenantRound])
	if err != nil {
		return nil, fmt.Errorf("controlplane: reset failed tenants of migration run %d: %w", runID, err)
	}
	return list, nil
}

// MigrationTenantResult is one tenant's row in a run. agents/migrate
// converts it to its TenantResult view, so the fields match that view's.
type MigrationTenantResult struct {
	// TenantID is the tenant.
	TenantID string
	// Instance is the instance it was placed on when the run started.
	Instance string
	// Canary is true for a canary tenant.
	Canary bool
	// Status is where it stands.
	Status MigrationTenantState
	// Reason says why a pending or paused tenant waits.
	Reason string
	// VersionBefore and VersionAfter are the versions before the run
	// first reached it and after its last attempt; nil until known.
	VersionBefore *int64
	VersionAfter  *int64
	// Attempts counts its attempts in its current round.
	Attempts int
	// Duration is the wall time of its last attempt.
	Duration time.Duration
	// Error is why its last attempt failed.
	Error string
	// StartedAt is its first attempt; FinishedAt when it finished.
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// MigrationRunTenants returns every tenant of a run in run order.
func (s *Store) MigrationRunTenants(ctx context.Context, runID int64) ([]MigrationTenantResult, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, instance_id, canary, status, reason, version_before,
		version_after, attempts, coalesce(duration_ms, 0), error, started_at, finished_at
		FROM migration_run_tenants WHERE run_id = $1 ORDER BY ordinal`, runID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: read tenants of migration run %d: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MigrationTenantResult, error) {
		var t MigrationTenantResult
		var ms int64
		err := row.Scan(&t.TenantID, &t.Instance, &t.Canary, &t.Status, &t.Reason, &t.VersionBefore,
			&t.VersionAfter, &t.Attempts, &ms, &t.Error, &t.StartedAt, &t.FinishedAt)
		t.Duration = time.Duration(ms) * time.Millisecond
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: read tenants of migration run %d: %w", runID, err)
	}
	return out, nil
}

// FailedMigrationRun is a finished migration run some of whose tenants
// failed and were not sent round again.
type FailedMigrationRun struct {
	RunID   int64
	Failed  int
	Tenants []string // the first failed tenants, at most 10
}

// FailedMigrationRuns returns the finished runs among the latest limit
// whose tenants still include failed ones, newest first: the condition of
// the migration_failed alert (a retry that succeeds clears it).
func (s *Store) FailedMigrationRuns(ctx context.Context, limit int) ([]FailedMigrationRun, error) {
	rows, err := s.db.Query(ctx, `SELECT r.id, count(*)::int, (array_agg(t.tenant_id ORDER BY t.tenant_id))[1:10]
		FROM (SELECT id FROM migration_runs WHERE status <> 'running' ORDER BY id DESC LIMIT $1) r
		JOIN migration_run_tenants t ON t.run_id = r.id AND t.status = 'failed'
		GROUP BY r.id ORDER BY r.id DESC`, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: failed migration runs: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (FailedMigrationRun, error) {
		var f FailedMigrationRun
		err := row.Scan(&f.RunID, &f.Failed, &f.Tenants)
		return f, err
	})
}
