package controlplane

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds the fleet checks: read-only queries across the control
// plane's tables that ask whether the fleet's records agree with what was
// asked of it (no work lost, done twice or left unfinished). fleetbench's
// chaos audit runs them after killing processes, and explains what they
// find. Nothing here writes.

// UnfinishedWork counts work the fleet has not finished.
type UnfinishedWork struct {
	// Onboarding counts tenants with an intake request pending or
	// enqueued, or a tenant row pending or provisioning.
	Onboarding int
	// Offboarding counts tenants offboarding, or asked to be (in the
	// offboards given) and not offboarded.
	Offboarding int
	// Migration counts, for every running migration run, its unfinished
	// tenants, or 1 when all are finished but the run is not closed.
	Migration int
}

const unfinishedWorkSQL = `SELECT
	(SELECT count(*) FROM (
		SELECT tenant_id FROM intake_requests WHERE status IN ('pending', 'enqueued')
		UNION SELECT id FROM tenants WHERE status IN ('pending', 'provisioning')) s),
	(SELECT count(*) FROM (
		SELECT id FROM unnest($1::text[]) AS r(id)
		UNION SELECT id FROM tenants WHERE status = 'offboarding') s
	 LEFT JOIN tenants t USING (id) WHERE t.status IS DISTINCT FROM 'offboarded'),
	(SELECT coalesce(sum(greatest(n, 1)), 0) FROM (
		SELECT count(t.tenant_id) FILTER (WHERE t.status NOT IN ('succeeded', 'failed')) AS n
		FROM migration_runs r LEFT JOIN migration_run_tenants t ON t.run_id = r.id
		WHERE r.status = 'running' GROUP BY r.id) s)`

// UnfinishedWork counts the onboardings, offboardings (offboards are the
// tenants whose offboarding was accepted) and migrations not finished.
func (s *Store) UnfinishedWork(ctx context.Context, offboards []string) (UnfinishedWork, error) {
	var w UnfinishedWork
	if err := s.db.QueryRow(ctx, unfinishedWorkSQL, offboards).Scan(&w.Onboarding, &w.Offboarding, &w.Migration); err != nil {
		return UnfinishedWork{}, fmt.Errorf("controlplane: unfinished work: %w", err)
	}
	return w, nil
}

// LostOnboarding is an accepted onboarding whose tenant never became
// active.
type LostOnboarding struct {
	// TenantID is the tenant.
	TenantID string
	// RequestStatuses are the distinct statuses of its intake requests,
	// sorted; empty when none was stored.
	RequestStatuses []string
}

// LostOnboardings returns the tenants of accepted whose tenant is not
// active, offboarding or offboarded (offboarding starts only from
// active), with what became of their intake requests.
func (s *Store) LostOnboardings(ctx context.Context, accepted []string) ([]LostOnboarding, error) {
	rows, err := s.db.Query(ctx, `SELECT r.id, coalesce(
		(SELECT array_agg(DISTINCT i.status ORDER BY i.status) FROM intake_requests i WHERE i.tenant_id = r.id), '{}')
		FROM unnest($1::text[]) AS r(id) LEFT JOIN tenants t USING (id)
		WHERE t.status IS NULL OR t.status NOT IN ('active', 'offboarding', 'offboarded')
		ORDER BY r.id`, accepted)
	if err != nil {
		return nil, fmt.Errorf("controlplane: lost onboardings: %w", err)
	}
	lost, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LostOnboarding])
	if err != nil {
		return nil, fmt.Errorf("controlplane: lost onboardings: %w", err)
	}
	return lost, nil
}

// DuplicateCheck names what DuplicateRecords looks for.
type DuplicateCheck struct {
	// ProvisionAction and OffboardAction are the audit actions of a
	// tenant's provisioning and offboarding; DoneOutcome the outcome that
	// says one finished.
	ProvisionAction string
	OffboardAction  string
	DoneOutcome     string
	// MigrationRuns is how many migration runs were asked for.
	MigrationRuns int
}

// DuplicateRecords counts records of work done more than once.
type DuplicateRecords struct {
	// ProvisionDone and OffboardDone count the audit entries saying a
	// tenant's provisioning (offboarding) finished, beyond the first per
	// tenant.
	ProvisionDone int
	OffboardDone  int
	// MigrationRuns counts the runs recorded beyond the ones asked for.
	MigrationRuns int
	// SpareInstances counts the live shared instances no tenant is placed
	// on, beyond the one created ahead of need.
	SpareInstances int
}

const duplicateRecordsSQL = `SELECT
	(SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM audit_log
		WHERE action = $1 AND outcome = $3 GROUP BY tenant_id HAVING count(*) > 1) s),
	(SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM audit_log
		WHERE action = $2 AND outcome = $3 GROUP BY tenant_id HAVING count(*) > 1) s),
	(SELECT greatest(count(*) - $4, 0) FROM migration_runs),
	(SELECT greatest(count(*) - 1, 0) FROM instances i WHERE i.tier = 'shared' AND i.status <> 'deleted'
		AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.instance_id = i.id))`

// DuplicateRecords counts, in one snapshot, the records of work done more
// than once that c describes.
func (s *Store) DuplicateRecords(ctx context.Context, c DuplicateCheck) (DuplicateRecords, error) {
	var d DuplicateRecords
	err := s.db.QueryRow(ctx, duplicateRecordsSQL, c.ProvisionAction, c.OffboardAction, c.DoneOutcome, c.MigrationRuns).
		Scan(&d.ProvisionDone, &d.OffboardDone, &d.MigrationRuns, &d.SpareInstances)
	if err != nil {
		return DuplicateRecords{}, fmt.Errorf("controlplane: duplicate records: %w", err)
	}
	return d, nil
}

// MigrationRunVerdict is how one migration run ended.
type MigrationRunVerdict struct {
	// Status is the run's status.
	Status MigrationRunState
	// FailedLive counts the tenants it failed that are not offboarding or
	// offboarded (a run may fail a tenant offboarded under it).
	FailedLive int
}

// MigrationRunVerdicts returns every migration run's verdict, oldest run
// first.
func (s *Store) MigrationRunVerdicts(ctx context.Context) ([]MigrationRunVerdict, error) {
	rows, err := s.db.Query(ctx, `SELECT r.status, count(t.tenant_id) FILTER (WHERE t.status = 'failed' AND
			NOT EXISTS (SELECT 1 FROM tenants x WHERE x.id = t.tenant_id AND x.status IN ('offboarding', 'offboarded')))
		FROM migration_runs r LEFT JOIN migration_run_tenants t ON t.run_id = r.id GROUP BY r.id ORDER BY r.id`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: migration run verdicts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MigrationRunVerdict])
	if err != nil {
		return nil, fmt.Errorf("controlplane: migration run verdicts: %w", err)
	}
	return out, nil
}

// MigrationTenantProgress is how far the tenants of every migration run
// are, across runs.
type MigrationTenantProgress struct {
	// Finished counts the tenant rows succeeded or failed.
	Finished int
	// Total counts every tenant row.
	Total int
}

// MigrationTenantProgress counts the tenant rows of all migration runs.
func (s *Store) MigrationTenantProgress(ctx context.Context) (MigrationTenantProgress, error) {
	var p MigrationTenantProgress
	err := s.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')), count(*)
		FROM migration_run_tenants`).Scan(&p.Finished, &p.Total)
	if err != nil {
		return MigrationTenantProgress{}, fmt.Errorf("controlplane: migration tenant progress: %w", err)
	}
	return p, nil
}

// OnboardingTrace is where an unfinished or failed onboarding stands.
type OnboardingTrace struct {
	// RequestID is the intake request.
	RequestID int64
	// TenantID is its tenant.
	TenantID string
	// Status is the request's status.
	Status string
	// Enqueues is how many times the request was enqueued.
	Enqueues int
	// TenantStatus is the tenant's status; "-" without a tenant row.
	TenantStatus string
	// Step is the last provisioning step recorded; "-" for none.
	Step string
	// LastError is the saga's last error, else the request's (at most 200
	// characters).
	LastError string
}

// OnboardingTraces returns up to limit intake requests pending, enqueued
// or failed (the unfinished first), with their tenant and saga state.
func (s *Store) OnboardingTraces(ctx context.Context, limit int) ([]OnboardingTrace, error) {
	rows, err := s.db.Query(ctx, `SELECT i.id, i.tenant_id, i.status, i.attempts, coalesce(t.status, '-'),
			coalesce(o.step, '-'), left(coalesce(nullif(o.last_error, ''), i.error), 200)
		FROM intake_requests i LEFT JOIN tenants t ON t.id = i.tenant_id LEFT JOIN tenant_onboarding o ON o.tenant_id = i.tenant_id
		WHERE i.status IN ('pending', 'enqueued', 'failed') ORDER BY i.status = 'failed', i.id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: onboarding traces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OnboardingTrace])
	if err != nil {
		return nil, fmt.Errorf("controlplane: onboarding traces: %w", err)
	}
	return out, nil
}

// OffboardingTrace is where an offboarding asked for stands.
type OffboardingTrace struct {
	// TenantID is the tenant.
	TenantID string
	// TenantStatus is its status; "missing" without a tenant row.
	TenantStatus string
	// Reason is its status reason.
	Reason string
	// RequestID is its latest offboard request; 0 for none.
	RequestID int64
}

// OffboardingTraces returns up to limit of the tenants of offboards that
// are not offboarded, by id, with their latest offboard request.
func (s *Store) OffboardingTraces(ctx context.Context, offboards []string, limit int) ([]OffboardingTrace, error) {
	rows, err := s.db.Query(ctx, `SELECT r.id, coalesce(t.status, 'missing'), coalesce(t.status_reason, ''),
		       coalesce((SELECT max(o.id) FROM offboard_requests o WHERE o.tenant_id = r.id), 0)
		FROM unnest($1::text[]) AS r(id) LEFT JOIN tenants t USING (id)
		WHERE t.status IS DISTINCT FROM 'offboarded' ORDER BY 1 LIMIT $2`, offboards, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: offboarding traces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OffboardingTrace])
	if err != nil {
		return nil, fmt.Errorf("controlplane: offboarding traces: %w", err)
	}
	return out, nil
}

// MigrationTrace is an unfinished tenant of a running migration run.
type MigrationTrace struct {
	// RunID is the run.
	RunID int64
	// TenantID is the tenant.
	TenantID string
	// Status is where it stands in the run.
	Status MigrationTenantState
	// Reason says why it waits.
	Reason string
	// Attempts counts its attempts in its current round.
	Attempts int
	// UpdatedAt is when its row last changed.
	UpdatedAt time.Time
}

// MigrationTraces returns up to limit unfinished tenants of running
// migration runs, by run and tenant.
func (s *Store) MigrationTraces(ctx context.Context, limit int) ([]MigrationTrace, error) {
	rows, err := s.db.Query(ctx, `SELECT t.run_id, t.tenant_id, t.status, t.reason, t.attempts, t.updated_at
		FROM migration_run_tenants t JOIN migration_runs r ON r.id = t.run_id
		WHERE r.status = 'running' AND t.status NOT IN ('succeeded', 'failed') ORDER BY 1, 2 LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: migration traces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MigrationTrace])
	if err != nil {
		return nil, fmt.Errorf("controlplane: migration traces: %w", err)
	}
	return out, nil
}
