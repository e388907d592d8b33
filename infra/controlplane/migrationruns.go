package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file owns the migration_runs table (migrations 00020 and 00040):
// one row per fleet migration run, with its throttle settings and the
// Idempotency-Key it was started with. The run's tenants are in
// migrationrun_tenants.go.

// MigrationRunState is the status of a migration run.
type MigrationRunState string

// Migration run states.
const (
	// MigrationRunRunning: some tenants are not finished.
	MigrationRunRunning MigrationRunState = "running"
	// MigrationRunSucceeded: every tenant succeeded.
	MigrationRunSucceeded MigrationRunState = "succeeded"
	// MigrationRunFailed: every tenant finished and some failed.
	MigrationRunFailed MigrationRunState = "failed"
	// MigrationRunStopped: a canary tenant failed, so the other tenants
	// were not started.
	MigrationRunStopped MigrationRunState = "stopped"
)

// Finished reports whether the run is over (until it is reopened).
func (s MigrationRunState) Finished() bool { return s != MigrationRunRunning }

// MigrationPhase is the phase of a running migration run.
type MigrationPhase string

// Migration run phases.
const (
	// MigrationPhaseCanary: only the canary tenants are migrated.
	MigrationPhaseCanary MigrationPhase = "canary"
	// MigrationPhaseMain: every tenant of the run is migrated.
	MigrationPhaseMain MigrationPhase = "main"
)

// ErrMigrationRunNotFound means no migration run has the id.
var ErrMigrationRunNotFound = errors.New("controlplane: migration run not found")

// ErrIdempotencyKeyTaken refuses to record a run under an idempotency key
// another run holds; nothing was recorded.
var ErrIdempotencyKeyTaken = errors.New("controlplane: idempotency key taken by another migration run")

// NewMigrationRun is a run to record with its tenants.
type NewMigrationRun struct {
	// Phase is MigrationPhaseCanary when the first CanaryTenants tenants
	// go first, else MigrationPhaseMain.
	Phase MigrationPhase
	// TargetVersion is the tenant schema version the run migrates to.
	TargetVersion int64
	// InstanceID is the instance the run is limited to; "" for every one.
	InstanceID string
	// Concurrency is the most tenants migrating at once on one instance.
	Concurrency int
	// Canary is the canary size asked for (recorded as asked).
	Canary int
	// CPUThreshold pauses an instance above this CPU, in percent.
	CPUThreshold float64
	// LagThreshold pauses an instance whose replicas lag more; stored in
	// milliseconds.
	LagThreshold time.Duration
	// RequestedBy names who started the run.
	RequestedBy string
	// Statement is the one DDL statement the run executes in each tenant's
	// schema instead of the migration set (migration 00070); "" for the
	// migration set.
	Statement string
	// IdempotencyKey is the key the run was started with; "" for none.
	IdempotencyKey string
	// RequestSHA256 fingerprints the request; stored only with a key.
	RequestSHA256 []byte
	// Tenants are the run's tenants, in run order.
	Tenants []MigrationRunMember
	// CanaryTenants is how many of Tenants, from the first, are canaries:
	// 0 outside the canary phase.
	CanaryTenants int
}

// MigrationRunMember is one tenant of a new run.
type MigrationRunMember struct {
	// TenantID is the tenant.
	TenantID string
	// InstanceID is the instance the tenant is placed on.
	InstanceID string
}

const insertMigrationRunSQL = `INSERT INTO migration_runs (phase, target_version, instance_id,
	concurrency, canary, cpu_threshold, lag_threshold_ms, requested_by, idempotency_key, request_sha256, statement)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id`

const insertMigrationRunTenantsSQL = `INSERT INTO migration_run_tenants (run_id, tenant_id, instance_id, ordinal, canary)
SELECT $1, t.id, t.instance_id, t.ord, t.ord <= $4
FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(id, instance_id, ord)`

// CreateMigrationRun records a running run and its tenants (all pending)
// in one transaction and returns the run's id. A key another run holds
// fails with ErrIdempotencyKeyTaken.
func (s *Store) CreateMigrationRun(ctx context.Context, run NewMigrationRun) (int64, error) {
	var key *string
	sum := run.RequestSHA256
	if run.IdempotencyKey != "" {
		key = &run.IdempotencyKey
	} else {
		sum = nil
	}
	ids := make([]string, len(run.Tenants))
	instances := make([]string, len(run.Tenants))
	for i, t := range run.Tenants {
		ids[i], instances[i] = t.TenantID, t.InstanceID
	}
	var runID int64
	err := s.Tx(ctx, func(tx *Store) error {
		err := tx.db.QueryRow(ctx, insertMigrationRunSQL, run.Phase, run.TargetVersion, run.InstanceID,
			run.Concurrency, run.Canary, run.CPUThreshold, run.LagThreshold.Milliseconds(), run.RequestedBy,
			key, sum, run.Statement).Scan(&runID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrIdempotencyKeyTaken
		}
		if err != nil {
			return err
		}
		_, err = tx.db.Exec(ctx, insertMigrationRunTenantsSQL, runID, ids, instances, run.CanaryTenants)
		return err
	})
	if errors.Is(err, ErrIdempotencyKeyTaken) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: record migration run: %w", err)
	}
	return runID, nil
}

// KeyedMigrationRun is the run an idempotency key started.
type KeyedMigrationRun struct {
	// ID is the run.
	ID int64
	// Status is its status now.
	Status MigrationRunState
	// Phase is its phase now.
	Phase MigrationPhase
	// RequestSHA256 is the fingerprint of the request that started it.
	RequestSHA256 []byte
}

// MigrationRunByIdempotencyKey returns the run started with key; false
// when no run has it.
func (s *Store) MigrationRunByIdempotencyKey(ctx context.Context, key string) (KeyedMigrationRun, bool, error) {
	var run KeyedMigrationRun
	err := s.db.QueryRow(ctx, `SELECT id, status, phase, request_sha256 FROM migration_runs
		WHERE idempotency_key = $1`, key).Scan(&run.ID, &run.Status, &run.Phase, &run.RequestSHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return KeyedMigrationRun{}, false, nil
	}
	if err != nil {
		return KeyedMigrationRun{}, false, fmt.Errorf("controlplane: find migration run by idempotency key: %w", err)
	}
	return run, true, nil
}

// MigrationRun is a run as recorded, with its tenants counted by state.
type MigrationRun struct {
	// ID is the run.
	ID int64
	// Status is the run's status.
	Status MigrationRunState
	// Phase is the run's phase.
	Phase MigrationPhase
	// Reason says why a run stopped.
	Reason string
	// TargetVersion is the version the run migrates to.
	TargetVersion int64
	// InstanceID is the instance the run is limited to; "" for every one.
	InstanceID string
	// Concurrency is the most tenants migrating at once on one instance.
	Concurrency int
	// Canary is the canary size asked for.
	Canary int
	// CPUThreshold pauses an instance above this CPU, in percent.
	CPUThreshold float64
	// LagThreshold pauses an instance whose replicas lag more.
	LagThreshold time.Duration
	// RequestedBy names who started the run.
	RequestedBy string
	// CreatedAt is when the run was recorded.
	CreatedAt time.Time
	// FinishedAt is when the run last finished; nil while running.
	FinishedAt *time.Time
	// Counts are the run's tenants by state.
	Counts MigrationRunCounts
}

// MigrationRunCounts are a run's tenants by state.
type MigrationRunCounts struct {
	Total     int
	Pending   int
	Running   int
	Paused    int
	Succeeded int
	Failed    int
}

const migrationRunSelect = `SELECT r.id, r.status, r.phase, r.status_reason, r.target_version, r.instance_id, r.concurrency,
	r.canary, r.cpu_threshold, r.lag_threshold_ms, r.requested_by, r.created_at, r.finished_at,
	c.total, c.pending, c.running, c.paused, c.succeeded, c.failed
	FROM migration_runs r, LATERAL (SELECT count(*) AS total,
		count(*) FILTER (WHERE status = 'pending') AS pending,
		count(*) FILTER (WHERE status = 'running') AS running,
		count(*) FILTER (WHERE status = 'paused') AS paused,
		count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
		count(*) FILTER (WHERE status = 'failed') AS failed
		FROM migration_run_tenants WHERE run_id = r.id) c`

const migrationRunSQL = migrationRunSelect + ` WHERE r.id = $1`

// RecentMigrationRuns returns the latest limit runs (1 to 200, default 20)
// with their counts, newest first: the dashboard's list of runs.
func (s *Store) RecentMigrationRuns(ctx context.Context, limit int) ([]MigrationRun, error) {
	if limit <= 0 || limit > 200 {
		limit = 20
	}
	rows, err := s.db.Query(ctx, migrationRunSelect+` ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list migration runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MigrationRun, error) { return scanMigrationRun(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list migration runs: %w", err)
	}
	return out, nil
}

// MigrationRun returns the run and its counts, or ErrMigrationRunNotFound.
// One round trip, cheap enough to poll.
func (s *Store) MigrationRun(ctx context.Context, runID int64) (MigrationRun, error) {
	run, err := scanMigrationRun(s.db.QueryRow(ctx, migrationRunSQL, runID))
	if errors.Is(err, pgx.ErrNoRows) {
		return MigrationRun{}, fmt.Errorf("%w: %d", ErrMigrationRunNotFound, runID)
	}
	if err != nil {
		return MigrationRun{}, fmt.Errorf("controlplane: read migration run %d: %w", runID, err)
	}
	return run, nil
}

// scanMigrationRun reads one row of migrationRunSelect.
func scanMigrationRun(row pgx.Row) (MigrationRun, error) {
	var run MigrationRun
	var lagMS int64
	c := &run.Counts
	err := row.Scan(&run.ID, &run.Status, &run.Phase, &run.Reason,
		&run.TargetVersion, &run.InstanceID, &run.Concurrency, &run.Canary, &run.CPUThreshold, &lagMS,
		&run.RequestedBy, &run.CreatedAt, &run.FinishedAt,
		&c.Total, &c.Pending, &c.Running, &c.Paused, &c.Succeeded, &c.Failed)
	run.LagThreshold = time.Duration(lagMS) * time.Millisecond
	return run, err
}

// LatestMigrationRunID returns the id of the most recent run, or
// ErrMigrationRunNotFound when there is none.
func (s *Store) LatestMigrationRunID(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM migration_runs ORDER BY id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrMigrationRunNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: latest migration run: %w", err)
	}
	return id, nil
}

// RunningMigrationRun is a run still running, as the repairs list them.
type RunningMigrationRun struct {
	// ID is the run.
	ID int64
	// Phase is its phase.
	Phase MigrationPhase
}

// RunningMigrationRuns lists the running runs, oldest first (an index of
// migration 00040 serves it).
func (s *Store) RunningMigrationRuns(ctx context.Context) ([]RunningMigrationRun, error) {
	rows, err := s.db.Query(ctx, `SELECT id, phase FROM migration_runs WHERE status = 'running' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list running migration runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RunningMigrationRun])
	if err != nil {
		return nil, fmt.Errorf("controlplane: list running migration runs: %w", err)
	}
	return runs, nil
}

// LockMigrationRun locks the run's row until the transaction ends and
// returns its status, or ErrMigrationRunNotFound. Call it in Tx.
func (s *Store) LockMigrationRun(ctx context.Context, runID int64) (MigrationRunState, error) {
	var st MigrationRunState
	err := s.db.QueryRow(ctx, `SELECT status FROM migration_runs WHERE id = $1 FOR UPDATE`, runID).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: %d", ErrMigrationRunNotFound, runID)
	}
	if err != nil {
		return "", fmt.Errorf("controlplane: lock migration run %d: %w", runID, err)
	}
	return st, nil
}

// ReopenMigrationRun sets a finished run running again, its stop reason
// and finish time cleared.
func (s *Store) ReopenMigrationRun(ctx context.Context, runID int64) error {
	_, err := s.db.Exec(ctx, `UPDATE migration_runs SET status = 'running', status_reason = '',
		finished_at = NULL, updated_at = now() WHERE id = $1`, runID)
	if err != nil {
		return fmt.Errorf("controlplane: reopen migration run %d: %w", runID, err)
	}
	return nil
}

// ResumedMigrationRun is a running run whose resume count was bumped.
type ResumedMigrationRun struct {
	// Resumes is how many times the run was resumed, this one included.
	Resumes int
	// Phase is the run's phase.
	Phase MigrationPhase
}

// CountMigrationRunResume counts one more resume of a running run; false
// when the run is not running (or does not exist).
func (s *Store) CountMigrationRunResume(ctx context.Context, runID int64) (ResumedMigrationRun, bool, error) {
	var res ResumedMigrationRun
	err := s.db.QueryRow(ctx, `UPDATE migration_runs SET resumes = resumes + 1, updated_at = now()
		WHERE id = $1 AND status = 'running' RETURNING resumes, phase`, runID).Scan(&res.Resumes, &res.Phase)
	if errors.Is(err, pgx.ErrNoRows) {
		return ResumedMigrationRun{}, false, nil
	}
	if err != nil {
		return ResumedMigrationRun{}, false, fmt.Errorf("controlplane: resume migration run %d: %w", runID, err)
	}
	return res, true, nil
}

// finishMigrationRunSQL closes a run in its main phase whose tenants are
// all finished: failed when one failed, else succeeded. Each tenant's
// outcome commits before its task runs this, so the last tenant to commit
// always sees the others and closes the run.
const finishMigrationRunSQL = `
UPDATE migration_runs SET updated_at = now(), finished_at = now(),
  status = CASE WHEN EXISTS (SELECT 1 FROM migration_run_tenants WHERE run_id = $1 AND status = 'failed')
           THEN 'failed' ELSE 'succeeded' END
WHERE id = $1 AND status = 'running' AND phase = 'main'
  AND NOT EXISTS (SELECT 1 FROM migration_run_tenants WHERE run_id = $1 AND ` + unfinishedTenant + `)
RETURNING status`

// FinishMigrationRun closes the run when it is in its main phase and every
// tenant is finished, and returns its final status; "" when it stays open
// (tenants remain, it is in its canary phase, or it was closed already).
func (s *Store) FinishMigrationRun(ctx context.Context, runID int64) (MigrationRunState, error) {
	var st MigrationRunState
	err := s.db.QueryRow(ctx, finishMigrationRunSQL, runID).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("controlplane: finish migration run %d: %w", runID, err)
	}
	return st, nil
}

// StopMigrationRun stops a run in its canary phase for reason; true for
// the caller that stopped it.
func (s *Store) StopMigrationRun(ctx context.Context, runID int64, reason string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE migration_runs SET status = 'stopped', status_reason = $2,
		finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'running' AND phase = 'canary'`, runID, reason)
	if err != nil {
		return false, fmt.Errorf("controlplane: stop migration run %d: %w", runID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PromoteMigrationRun ends the canary phase of a running run; true for
// the caller that promoted it.
func (s *Store) PromoteMigrationRun(ctx context.Context, runID int64) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE migration_runs SET phase = 'main', updated_at = now()
		WHERE id = $1 AND status = 'running' AND phase = 'canary'`, runID)
	if err != nil {
		return false, fmt.Errorf("controlplane: promote migration run %d: %w", runID, err)
	}
	return tag.RowsAffected() == 1, nil
}
