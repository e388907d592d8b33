package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cost agent's tables (migration 00070): the last pg_stat_statements
// reading per instance, the analyses' reports and the recommendations.

// CostSnapshot is the last reading of an instance's pg_stat_statements.
type CostSnapshot struct {
	InstanceID string
	TakenAt    time.Time
	// StatsReset and Dealloc are pg_stat_statements_info's; nil StatsReset
	// when the server reported none.
	StatsReset *time.Time
	Dealloc    int64
}

// CostCounter is one statement's cumulative counters for one database and
// role, as pg_stat_statements reports them.
type CostCounter struct {
	DBID, UserID, QueryID         int64
	Calls                         int64
	ExecMS, PlanMS                float64
	Rows                          int64
	SharedBlksHit, SharedBlksRead int64
}

// LastCostSnapshot returns the instance's last snapshot and its counters;
// ok is false when the instance was never analysed.
func (s *Store) LastCostSnapshot(ctx context.Context, instanceID string) (snap CostSnapshot, counters []CostCounter, ok bool, err error) {
	snap.InstanceID = instanceID
	err = s.db.QueryRow(ctx, `SELECT taken_at, stats_reset, dealloc FROM cost_snapshots WHERE instance_id = $1`,
		instanceID).Scan(&snap.TakenAt, &snap.StatsReset, &snap.Dealloc)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, nil, false, nil
	}
	if err != nil {
		return snap, nil, false, fmt.Errorf("controlplane: cost snapshot of %s: %w", instanceID, err)
	}
	rows, err := s.db.Query(ctx, `SELECT dbid, userid, queryid, calls, exec_ms, plan_ms, rows, shared_blks_hit, shared_blks_read
		FROM cost_counters WHERE instance_id = $1`, instanceID)
	if err != nil {
		return snap, nil, false, fmt.Errorf("controlplane: cost counters of %s: %w", instanceID, err)
	}
	counters, err = pgx.CollectRows(rows, pgx.RowToStructByPos[CostCounter])
	if err != nil {
		return snap, nil, false, fmt.Errorf("controlplane: cost counters of %s: %w", instanceID, err)
	}
	return snap, counters, true, nil
}

// SaveCostSnapshot replaces the instance's snapshot and counters with a new
// reading, in one transaction.
func (s *Store) SaveCostSnapshot(ctx context.Context, snap CostSnapshot, counters []CostCounter) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `INSERT INTO cost_snapshots (instance_id, taken_at, stats_reset, dealloc)
			VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO UPDATE
			SET taken_at = EXCLUDED.taken_at, stats_reset = EXCLUDED.stats_reset, dealloc = EXCLUDED.dealloc`,
			snap.InstanceID, snap.TakenAt, snap.StatsReset, snap.Dealloc); err != nil {
			return fmt.Errorf("controlplane: save cost snapshot of %s: %w", snap.InstanceID, err)
		}
		if _, err := tx.db.Exec(ctx, `DELETE FROM cost_counters WHERE instance_id = $1`, snap.InstanceID); err != nil {
			return fmt.Errorf("controlplane: save cost counters of %s: %w", snap.InstanceID, err)
		}
		b := &pgx.Batch{}
		for _, c := range counters {
			b.Queue(`INSERT INTO cost_counters (instance_id, dbid, userid, queryid, calls, exec_ms, plan_ms, rows,
				shared_blks_hit, shared_blks_read) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				snap.InstanceID, c.DBID, c.UserID, c.QueryID, c.Calls, c.ExecMS, c.PlanMS, c.Rows, c.SharedBlksHit, c.SharedBlksRead)
		}
		if err := tx.db.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("controlplane: save cost counters of %s: %w", snap.InstanceID, err)
		}
		return nil
	})
}

// CostReportRow is one stored analysis report; Report is the agent's JSON.
type CostReportRow struct {
	ID         int64
	CreatedAt  time.Time
	Incomplete bool
	Report     json.RawMessage
}

// SaveCostReport stores an analysis report and returns its id.
func (s *Store) SaveCostReport(ctx context.Context, incomplete bool, report json.RawMessage) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO cost_reports (incomplete, report) VALUES ($1, $2) RETURNING id`,
		incomplete, report).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("controlplane: save cost report: %w", err)
	}
	return id, nil
}

// ErrNoCostReport reports that no analysis has run yet.
var ErrNoCostReport = errors.New("controlplane: no cost analysis has run yet")

// LatestCostReport returns the newest report, or ErrNoCostReport.
func (s *Store) LatestCostReport(ctx context.Context) (CostReportRow, error) {
	var r CostReportRow
	err := s.db.QueryRow(ctx, `SELECT id, created_at, incomplete, report FROM cost_reports ORDER BY id DESC LIMIT 1`).
		Scan(&r.ID, &r.CreatedAt, &r.Incomplete, &r.Report)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNoCostReport
	}
	if err != nil {
		return r, fmt.Errorf("controlplane: latest cost report: %w", err)
	}
	return r, nil
}

// Recommendation statuses.
const (
	RecommendationOpen      = "open"
	RecommendationApplied   = "applied"
	RecommendationDismissed = "dismissed"
)

// Recommendation is one piece of the cost agent's advice.
type Recommendation struct {
	ID int64
	// Kind is create_index, drop_index, add_replica, remove_replica,
	// resize, move_to_dedicated or move_to_shared.
	Kind string
	// Key identifies the change within its kind (for create_index: the
	// table and columns), so a re-analysis finds the same row.
	Key string
	// Status is open, applied or dismissed.
	Status string
	// Tenants are the ids of every tenant it helps, sorted.
	Tenants []string
	// Statement is the DDL of index kinds, run as each tenant in its
	// schema.
	Statement string
	// CostBefore and CostAfter are the planner's cost summed over the
	// tenants, without and with the change.
	CostBefore, CostAfter float64
	// MonthlySavingUSD is what the change saves a month, by the price
	// table.
	MonthlySavingUSD float64
	// Evidence is the agent's per-tenant measurements, as JSON.
	Evidence json.RawMessage
	// MigrationRunID is the fleet migration run that applied it.
	MigrationRunID *int64
	StatusReason   string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const recommendationColumns = `id, kind, key, status, tenants, statement, cost_before, cost_after,
	monthly_saving_usd, evidence, migration_run_id, status_reason, created_at, updated_at`

func scanRecommendation(row pgx.Row) (Recommendation, error) {
	var r Recommendation
	err := row.Scan(&r.ID, &r.Kind, &r.Key, &r.Status, &r.Tenants, &r.Statement, &r.CostBefore, &r.CostAfter,
		&r.MonthlySavingUSD, &r.Evidence, &r.MigrationRunID, &r.StatusReason, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// UpsertRecommendation records advice: a new (kind, key) is inserted open;
// an open one gets the new tenants, costs and evidence; a dismissed or
// applied one is left as it is. It returns the row as stored.
func (s *Store) UpsertRecommendation(ctx context.Context, r Recommendation) (Recommendation, error) {
	if len(r.Evidence) == 0 {
		r.Evidence = json.RawMessage(`{}`)
	}
	row := s.db.QueryRow(ctx, `INSERT INTO cost_recommendations (kind, key, tenants, statement, cost_before, cost_after,
			monthly_saving_usd, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (kind, key) DO UPDATE SET tenants = EXCLUDED.tenants, statement = EXCLUDED.statement,
			cost_before = EXCLUDED.cost_before, cost_after = EXCLUDED.cost_after,
			monthly_saving_usd = EXCLUDED.monthly_saving_usd, evidence = EXCLUDED.evidence, updated_at = now()
			WHERE cost_recommendations.status = 'open'
		RETURNING `+recommendationColumns,
		r.Kind, r.Key, r.Tenants, r.Statement, r.CostBefore, r.CostAfter, r.MonthlySavingUSD, r.Evidence)
	got, err := scanRecommendation(row)
	if errors.Is(err, pgx.ErrNoRows) { // dismissed or applied: unchanged
		return s.recommendationByKey(ctx, r.Kind, r.Key)
	}
	if err != nil {
		return got, fmt.Errorf("controlplane: upsert recommendation %s %s: %w", r.Kind, r.Key, err)
	}
	return got, nil
}

func (s *Store) recommendationByKey(ctx context.Context, kind, key string) (Recommendation, error) {
	r, err := scanRecommendation(s.db.QueryRow(ctx, `SELECT `+recommendationColumns+`
		FROM cost_recommendations WHERE kind = $1 AND key = $2`, kind, key))
	if err != nil {
		return r, fmt.Errorf("controlplane: recommendation %s %s: %w", kind, key, err)
	}
	return r, nil
}

// ErrRecommendationNotFound reports an unknown recommendation id.
var ErrRecommendationNotFound = errors.New("controlplane: recommendation not found")

// GetRecommendation returns one recommendation, or
// ErrRecommendationNotFound.
func (s *Store) GetRecommendation(ctx context.Context, id int64) (Recommendation, error) {
	r, err := scanRecommendation(s.db.QueryRow(ctx, `SELECT `+recommendationColumns+`
		FROM cost_recommendations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: %d", ErrRecommendationNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("controlplane: recommendation %d: %w", id, err)
	}
	return r, nil
}

// RecommendationFilter narrows ListRecommendations; zero fields match
// everything.
type RecommendationFilter struct {
	Status string
	// TenantID keeps the recommendations that name this tenant.
	TenantID string
}

// ListRecommendations returns the recommendations matching f, the largest
// monthly saving first.
func (s *Store) ListRecommendations(ctx context.Context, f RecommendationFilter) ([]Recommendation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+recommendationColumns+` FROM cost_recommendations
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR $2 = ANY (tenants))
		ORDER BY monthly_saving_usd DESC, id`, f.Status, f.TenantID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list recommendations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Recommendation, error) { return scanRecommendation(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list recommendations: %w", err)
	}
	return out, nil
}

// ErrRecommendationNotOpen reports a status change of a recommendation
// that is no longer open.
var ErrRecommendationNotOpen = errors.New("controlplane: recommendation is not open")

// SetRecommendationStatus moves an open recommendation to status (applied
// or dismissed) with a reason and, for applied, the migration run. A
// recommendation that is not open is left alone: ErrRecommendationNotOpen.
func (s *Store) SetRecommendationStatus(ctx context.Context, id int64, status, reason string, runID *int64) (Recommendation, error) {
	r, err := scanRecommendation(s.db.QueryRow(ctx, `UPDATE cost_recommendations
		SET status = $2, status_reason = $3, migration_run_id = coalesce($4, migration_run_id), updated_at = now()
		WHERE id = $1 AND status = 'open' RETURNING `+recommendationColumns, id, status, reason, runID))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.GetRecommendation(ctx, id); gerr != nil {
			return r, gerr
		}
		return r, fmt.Errorf("%w: %d", ErrRecommendationNotOpen, id)
	}
	if err != nil {
		return r, fmt.Errorf("controlplane: set recommendation %d %s: %w", id, status, err)
	}
	return r, nil
}

// SetRecommendationReason records the outcome of an applied
// recommendation's run.
func (s *Store) SetRecommendationReason(ctx context.Context, id int64, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE cost_recommendations SET status_reason = $2, updated_at = now() WHERE id = $1`,
		id, reason); err != nil {
		return fmt.Errorf("controlplane: recommendation %d: %w", id, err)
	}
	return nil
}

// ErrRecommendationApplying refuses to roll out a recommendation that a
// running migration run is rolling out already.
var ErrRecommendationApplying = errors.New("controlplane: recommendation is being applied by a running migration run")

// AttachRecommendationRun records that migration run runID rolls out the
// open recommendation id; it stays open until the run finishes
// (SettleRecommendationsOfRun). A recommendation that is not open is
// ErrRecommendationNotOpen; one attached to another run still running is
// ErrRecommendationApplying.
func (s *Store) AttachRecommendationRun(ctx context.Context, id, runID int64) (Recommendation, error) {
	r, err := scanRecommendation(s.db.QueryRow(ctx, `UPDATE cost_recommendations c
		SET migration_run_id = $2, status_reason = 'applying in migration run ' || $2::text, updated_at = now()
		WHERE c.id = $1 AND c.status = 'open' AND (c.migration_run_id IS NULL OR c.migration_run_id = $2
			OR NOT EXISTS (SELECT 1 FROM migration_runs m WHERE m.id = c.migration_run_id AND m.status = 'running'))
		RETURNING `+recommendationColumns, id, runID))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := s.GetRecommendation(ctx, id)
		switch {
		case gerr != nil:
			return r, gerr
		case cur.Status != RecommendationOpen:
			return r, fmt.Errorf("%w: %d", ErrRecommendationNotOpen, id)
		}
		return r, fmt.Errorf("%w: %d (run %d)", ErrRecommendationApplying, id, *cur.MigrationRunID)
	}
	if err != nil {
		return r, fmt.Errorf("controlplane: attach run %d to recommendation %d: %w", runID, id, err)
	}
	return r, nil
}

// settleRecommendationsSQL marks the open recommendations a finished run
// rolls out: applied when the run succeeded, still open when it failed,
// each with the run's results in status_reason.
const settleRecommendationsSQL = `
UPDATE cost_recommendations c
SET status = CASE WHEN m.status = 'succeeded' THEN 'applied' ELSE 'open' END,
    status_reason = format('migration run %s %s: %s of %s tenants succeeded, %s failed', m.id, m.status,
                           n.succeeded, n.total, n.failed),
    updated_at = now()
FROM migration_runs m, LATERAL (SELECT count(*) AS total,
        count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE status = 'failed') AS failed
    FROM migration_run_tenants WHERE run_id = m.id) n
WHERE m.id = $1 AND m.status <> 'running' AND c.migration_run_id = m.id AND c.status = 'open'`

// SettleRecommendationsOfRun records a finished run's results on the open
// recommendations it rolls out, and marks them applied when it succeeded
// (a failed run leaves them open: retry the run). Nothing happens for a
// running run, or one that rolls out no recommendation.
func (s *Store) SettleRecommendationsOfRun(ctx context.Context, runID int64) error {
	if _, err := s.db.Exec(ctx, settleRecommendationsSQL, runID); err != nil {
		return fmt.Errorf("controlplane: settle recommendations of migration run %d: %w", runID, err)
	}
	return nil
}
