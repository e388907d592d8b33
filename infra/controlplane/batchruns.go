package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// BatchOutcome is the state of a batch run.
type BatchOutcome string

// The batch outcomes.
const (
	// BatchRunning: the run started and has not finished.
	BatchRunning BatchOutcome = "running"
	// BatchSucceeded: the job returned without error.
	BatchSucceeded BatchOutcome = "succeeded"
	// BatchFailed: the job returned an error (the task may retry it).
	BatchFailed BatchOutcome = "failed"
	// BatchSkipped: there was nothing to run, e.g. the tenant is no longer
	// active.
	BatchSkipped BatchOutcome = "skipped"
)

// Valid reports a known outcome.
func (o BatchOutcome) Valid() bool {
	switch o {
	case BatchRunning, BatchSucceeded, BatchFailed, BatchSkipped:
		return true
	}
	return false
}

// BatchRunKey names one run: a job kind for a tenant in one slot.
type BatchRunKey struct {
	// Kind is the job kind.
	Kind string
	// TenantID is the tenant.
	TenantID string
	// Slot is the tenant's run time in the kind's period.
	Slot time.Time
}

// BatchRun is one recorded run.
type BatchRun struct {
	// ID is the run's id.
	ID int64 `json:"id"`
	// Kind, TenantID and Slot name the run.
	Kind     string    `json:"kind"`
	TenantID string    `json:"tenant_id"`
	Slot     time.Time `json:"slot"`
	// Outcome is where the run is.
	Outcome BatchOutcome `json:"outcome"`
	// Attempts counts starts.
	Attempts int `json:"attempts"`
	// StartedAt is the start of the latest attempt; FinishedAt its end
	// (nil while running).
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Error is the latest failure's message, empty otherwise.
	Error string `json:"error,omitempty"`
}

// maxBatchError bounds a stored error message.
const maxBatchError = 2000

// StartBatchRun records the start of a run: a new row, or, for a retry of
// the same slot, the existing row back to running with one more attempt.
// It returns the run's id.
func (s *Store) StartBatchRun(ctx context.Context, k BatchRunKey) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO batch_runs (kind, tenant_id, slot) VALUES ($1, $2, $3)
		ON CONFLICT (kind, tenant_id, slot) DO UPDATE
		SET outcome = 'running', attempts = batch_runs.attempts + 1, started_at = now(), finished_at = NULL, error = ''
		RETURNING id`, k.Kind, k.TenantID, k.Slot.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("controlplane: start batch run %s/%s: %w", k.Kind, k.TenantID, err)
	}
	return id, nil
}

// FinishBatchRun records a run's end with its outcome and error message
// (truncated; empty on success).
func (s *Store) FinishBatchRun(ctx context.Context, runID int64, outcome BatchOutcome, message string) error {
	if !outcome.Valid() || outcome == BatchRunning {
		return fmt.Errorf("controlplane: finish batch run %d: bad outcome %q", runID, outcome)
	}
	message = storableMessage(message)
	tag, err := s.db.Exec(ctx, `UPDATE batch_runs SET outcome = $2, error = $3, finished_at = now() WHERE id = $1`,
		runID, string(outcome), message)
	if err != nil {
		return fmt.Errorf("controlplane: finish batch run %d: %w", runID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("controlplane: finish batch run %d: %w", runID, ErrBatchRunNotFound)
	}
	return nil
}

// storableMessage makes an error message fit a text column: valid UTF-8
// without NUL bytes, cut on a character boundary at maxBatchError bytes.
func storableMessage(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= maxBatchError {
		return s
	}
	cut := maxBatchError
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ErrBatchRunNotFound means the batch run asked for does not exist.
var ErrBatchRunNotFound = errors.New("controlplane: batch run not found")

// BatchRunFilter narrows ListBatchRuns; zero fields match everything.
type BatchRunFilter struct {
	// TenantID keeps one tenant's runs.
	TenantID string
	// Kind keeps one job kind's runs.
	Kind string
	// Limit bounds the answer. Default 100, at most 1000.
	Limit int
}

// ListBatchRuns returns the latest runs first.
func (s *Store) ListBatchRuns(ctx context.Context, f BatchRunFilter) ([]BatchRun, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.db.Query(ctx, `SELECT id, kind, tenant_id, slot, outcome, attempts, started_at, finished_at, error
		FROM batch_runs WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR kind = $2)
		ORDER BY started_at DESC, id DESC LIMIT $3`, f.TenantID, f.Kind, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list batch runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BatchRun, error) {
		var b BatchRun
		var outcome string
		err := r.Scan(&b.ID, &b.Kind, &b.TenantID, &b.Slot, &outcome, &b.Attempts, &b.StartedAt, &b.FinishedAt, &b.Error)
		b.Outcome = BatchOutcome(outcome)
		b.Slot = b.Slot.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list batch runs: %w", err)
	}
	return runs, nil
}

// TableSnapshot is one table of a tenant as a compliance snapshot saw it.
type TableSnapshot struct {
	// Table is the table's name in the tenant's schema.
	Table string `json:"table"`
	// SizeBytes is its total size (heap, indexes, TOAST).
	SizeBytes int64 `json:"size_bytes"`
	// Rows is its exact row count as the tenant sees it.
	Rows int64 `json:"rows"`
}

// RecordComplianceSnapshot replaces the tables recorded for a run (a
// retried run records its latest reading) in one transaction.
func (s *Store) RecordComplianceSnapshot(ctx context.Context, runID int64, tenantID string, tables []TableSnapshot) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM compliance_snapshots WHERE run_id = $1`, runID); err != nil {
			return fmt.Errorf("controlplane: record compliance snapshot %d: %w", runID, err)
		}
		names := make([]string, len(tables))
		sizes := make([]int64, len(tables))
		counts := make([]int64, len(tables))
		for i, t := range tables {
			names[i], sizes[i], counts[i] = t.Table, t.SizeBytes, t.Rows
		}
		if _, err := tx.db.Exec(ctx, `INSERT INTO compliance_snapshots (run_id, tenant_id, table_name, size_bytes, row_count)
			SELECT $1, $2, t.name, t.size, t.count FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS t (name, size, count)`,
			runID, tenantID, names, sizes, counts); err != nil {
			return fmt.Errorf("controlplane: record compliance snapshot %d: %w", runID, err)
		}
		return nil
	})
}

// ComplianceSnapshot returns the tables recorded for a run, by table name.
func (s *Store) ComplianceSnapshot(ctx context.Context, runID int64) ([]TableSnapshot, error) {
	rows, err := s.db.Query(ctx, `SELECT table_name, size_bytes, row_count FROM compliance_snapshots
		WHERE run_id = $1 ORDER BY table_name`, runID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: read compliance snapshot %d: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TableSnapshot])
	if err != nil {
		return nil, fmt.Errorf("controlplane: read compliance snapshot %d: %w", runID, err)
	}
	return out, nil
}
