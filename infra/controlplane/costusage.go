package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cost agent's index and table statistics (migration 00075): the last
// reading of each instance's pg_stat_user_indexes and pg_stat_user_tables
// for its tenant schemas, kept next to the pg_stat_statements snapshot
// (cost.go) so the next analysis diffs idx_scan and the tables' writes
// over its window.

// UsageSnapshot is when an instance's index and table statistics were last
// read.
type UsageSnapshot struct {
	InstanceID string
	TakenAt    time.Time
	// StatsReset is the instance database's pg_stat_database.stats_reset
	// at the reading; nil when it was never reset.
	StatsReset *time.Time
}

// IndexCounter is one tenant index's cumulative idx_scan.
type IndexCounter struct {
	Schema, Index string
	// OID is the index's oid: a different one under the same name is
	// another index (dropped and re-created), whose counters restarted.
	OID     int64
	IdxScan int64
}

// TableCounter is one tenant table's cumulative pg_stat_user_tables
// counters.
type TableCounter struct {
	Schema, Table                string
	Inserted, Updated, Deleted   int64
	HOTUpdated, SeqScan, IdxScan int64
}

// LastUsageSnapshot returns the instance's last index and table reading;
// ok is false when there is none.
func (s *Store) LastUsageSnapshot(ctx context.Context, instanceID string) (snap UsageSnapshot, indexes []IndexCounter, tables []TableCounter, ok bool, err error) {
	snap.InstanceID = instanceID
	err = s.db.QueryRow(ctx, `SELECT taken_at, stats_reset FROM cost_usage_snapshots WHERE instance_id = $1`, instanceID).
		Scan(&snap.TakenAt, &snap.StatsReset)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, nil, nil, false, nil
	}
	if err != nil {
		return snap, nil, nil, false, fmt.Errorf("controlplane: usage snapshot of %s: %w", instanceID, err)
	}
	rows, err := s.db.Query(ctx, `SELECT schema_name, index_name, index_oid, idx_scan FROM cost_index_counters
		WHERE instance_id = $1`, instanceID)
	if err != nil {
		return snap, nil, nil, false, fmt.Errorf("controlplane: index counters of %s: %w", instanceID, err)
	}
	if indexes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[IndexCounter]); err != nil {
		return snap, nil, nil, false, fmt.Errorf("controlplane: index counters of %s: %w", instanceID, err)
	}
	rows, err = s.db.Query(ctx, `SELECT schema_name, table_name, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, seq_scan, idx_scan
		FROM cost_table_counters WHERE instance_id = $1`, instanceID)
	if err != nil {
		return snap, nil, nil, false, fmt.Errorf("controlplane: table counters of %s: %w", instanceID, err)
	}
	if tables, err = pgx.CollectRows(rows, pgx.RowToStructByPos[TableCounter]); err != nil {
		return snap, nil, nil, false, fmt.Errorf("controlplane: table counters of %s: %w", instanceID, err)
	}
	return snap, indexes, tables, true, nil
}

// SaveUsageSnapshot replaces the instance's index and table reading, in
// one transaction.
func (s *Store) SaveUsageSnapshot(ctx context.Context, snap UsageSnapshot, indexes []IndexCounter, tables []TableCounter) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `INSERT INTO cost_usage_snapshots (instance_id, taken_at, stats_reset) VALUES ($1, $2, $3)
			ON CONFLICT (instance_id) DO UPDATE SET taken_at = EXCLUDED.taken_at, stats_reset = EXCLUDED.stats_reset`,
			snap.InstanceID, snap.TakenAt, snap.StatsReset); err != nil {
			return fmt.Errorf("controlplane: save usage snapshot of %s: %w", snap.InstanceID, err)
		}
		for _, q := range []string{`DELETE FROM cost_index_counters WHERE instance_id = $1`, `DELETE FROM cost_table_counters WHERE instance_id = $1`} {
			if _, err := tx.db.Exec(ctx, q, snap.InstanceID); err != nil {
				return fmt.Errorf("controlplane: save usage snapshot of %s: %w", snap.InstanceID, err)
			}
		}
		var schemas, names []string
		var oids, scans []int64
		for _, c := range indexes {
			schemas, names, oids, scans = append(schemas, c.Schema), append(names, c.Index), append(oids, c.OID), append(scans, c.IdxScan)
		}
		if _, err := tx.db.Exec(ctx, `INSERT INTO cost_index_counters (instance_id, schema_name, index_name, index_oid, idx_scan)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])`,
			snap.InstanceID, schemas, names, oids, scans); err != nil {
			return fmt.Errorf("controlplane: save index counters of %s: %w", snap.InstanceID, err)
		}
		cols := make([][]int64, 6)
		schemas, names = nil, nil
		for _, c := range tables {
			schemas, names = append(schemas, c.Schema), append(names, c.Table)
			for i, v := range []int64{c.Inserted, c.Updated, c.Deleted, c.HOTUpdated, c.SeqScan, c.IdxScan} {
				cols[i] = append(cols[i], v)
			}
		}
		if _, err := tx.db.Exec(ctx, `INSERT INTO cost_table_counters (instance_id, schema_name, table_name, n_tup_ins, n_tup_upd,
				n_tup_del, n_tup_hot_upd, seq_scan, idx_scan)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])`,
			snap.InstanceID, schemas, names, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]); err != nil {
			return fmt.Errorf("controlplane: save table counters of %s: %w", snap.InstanceID, err)
		}
		return nil
	})
}
