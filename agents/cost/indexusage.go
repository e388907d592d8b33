package cost

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// The index and table statistics of an instance's tenant schemas
// (pg_stat_user_indexes, pg_stat_user_tables, the catalogs), read through
// the admin session (statistics views and catalogs only: nothing of a
// tenant's runs), diffed against the previous reading kept in the control
// plane (Store.LastUsageSnapshot, migration 00075). They feed the drop
// advice (dropindex.go, duplicateindex.go) and the HOT veto (hotveto.go).

// tenantIndex is one index of a tenant's table, as the catalogs and
// pg_stat_user_indexes describe it.
type tenantIndex struct {
	Schema, Table, Name string
	OID                 int64
	// IdxScan is cumulative; Bytes is pg_relation_size.
	IdxScan, Bytes int64
	AM             string
	// Protected: a primary key, unique, exclusion or replica identity
	// index, or one a constraint uses. Never dropped.
	Protected bool
	// Valid: indisvalid, indisready and indislive.
	Valid bool
	// Droppable: a plain index of a table or materialized view, not a
	// partitioned index or a partition's part of one (DROP INDEX
	// CONCURRENTLY refuses those).
	Droppable bool
	// NKey key columns come first in Columns, the INCLUDE ones after; a
	// column is its name or expression (pg_get_indexdef). Classes,
	// Collations and Options are the key columns' opclasses, collations
	// and indoption.
	NKey       int
	Columns    []string
	Classes    []int64
	Collations []int64
	Options    []int16
	// Predicate is a partial index's WHERE, nil for none.
	Predicate *string
	// Definition is the normalized definition: pg_get_indexdef without
	// the index's name and schema ("USING btree (customer_id)"), the same
	// for the same index in two tenant schemas.
	Definition string
}

// candidate reports whether the fleet may ever advise dropping the index.
func (ix tenantIndex) candidate() bool { return !ix.Protected && ix.Valid && ix.Droppable }

// tenantIndexesSQL reads every index of the given schemas' tables.
const tenantIndexesSQL = `
SELECT n.nspname, t.relname, ic.relname, i.indexrelid::bigint, coalesce(s.idx_scan, 0)::bigint,
       pg_catalog.pg_relation_size(i.indexrelid), am.amname,
       i.indisprimary OR i.indisunique OR i.indisexclusion OR i.indisreplident
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid),
       i.indisvalid AND i.indisready AND i.indislive,
       ic.relkind = 'i' AND t.relkind IN ('r', 'm')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid),
       i.indnkeyatts::int,
       array(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, false) FROM pg_catalog.generate_series(1, i.indnatts::int) k ORDER BY k),
       i.indclass::oid[]::bigint[], i.indcollation::oid[]::bigint[], i.indoption::int2[],
       pg_catalog.pg_get_expr(i.indpred, i.indrelid),
       pg_catalog.pg_get_indexdef(i.indexrelid),
       'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || pg_catalog.quote_ident(ic.relname) || ' ON '
           || CASE WHEN ic.relkind = 'I' THEN 'ONLY ' ELSE '' END
           || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname) || ' '
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_catalog.pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname = ANY ($1)`

// tableStatsSQL reads the given schemas' tables' counters.
const tableStatsSQL = `
SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, coalesce(seq_scan, 0), coalesce(idx_scan, 0)
FROM pg_catalog.pg_stat_user_tables WHERE schemaname = ANY ($1)`

// usageReading is one read of an instance's index and table statistics.
type usageReading struct {
	TakenAt, ServerStart time.Time
	StatsReset           *time.Time
	Indexes              []tenantIndex
	Tables               []controlplane.TableCounter
}

// readUsage reads the tenant schemas' indexes and tables through the admin
// session.
func readUsage(ctx context.Context, admin *pgxpool.Pool, schemas []string) (usageReading, error) {
	var r usageReading
	if err := admin.QueryRow(ctx, `SELECT pg_catalog.now(), pg_catalog.pg_postmaster_start_time(), stats_reset
		FROM pg_catalog.pg_stat_database WHERE datname = pg_catalog.current_database()`).Scan(&r.TakenAt, &r.ServerStart, &r.StatsReset); err != nil {
		return r, fmt.Errorf("cost: read pg_stat_database: %w", err)
	}
	rows, err := admin.Query(ctx, tenantIndexesSQL, schemas)
	if err != nil {
		return r, fmt.Errorf("cost: read indexes: %w", err)
	}
	r.Indexes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (tenantIndex, error) {
		var ix tenantIndex
		var def, prefix string
		err := row.Scan(&ix.Schema, &ix.Table, &ix.Name, &ix.OID, &ix.IdxScan, &ix.Bytes, &ix.AM, &ix.Protected, &ix.Valid,
			&ix.Droppable, &ix.NKey, &ix.Columns, &ix.Classes, &ix.Collations, &ix.Options, &ix.Predicate, &def, &prefix)
		ix.Definition = normalizeDefinition(def, prefix, ix.Schema)
		return ix, err
	})
	if err != nil {
		return r, fmt.Errorf("cost: read indexes: %w", err)
	}
	rows, err = admin.Query(ctx, tableStatsSQL, schemas)
	if err != nil {
		return r, fmt.Errorf("cost: read table statistics: %w", err)
	}
	if r.Tables, err = pgx.CollectRows(rows, pgx.RowToStructByPos[controlplane.TableCounter]); err != nil {
		return r, fmt.Errorf("cost: read table statistics: %w", err)
	}
	return r, nil
}

// normalizeDefinition strips the index's name and table from its
// pg_get_indexdef (prefix is what PostgreSQL puts before "USING") and the
// tenant's schema from what follows (a tenant function in an expression
// or predicate), keeping UNIQUE: the same index in two tenant schemas has
// the same normalized definition.
func normalizeDefinition(def, prefix, schema string) string {
	rest, ok := strings.CutPrefix(def, prefix)
	if !ok {
		return def // unexpected: compares equal to nothing else
	}
	if strings.HasPrefix(prefix, "CREATE UNIQUE ") {
		rest = "UNIQUE " + rest
	}
	for _, q := range []string{pgx.Identifier{schema}.Sanitize() + ".", schema + "."} {
		rest = strings.ReplaceAll(rest, q, "")
	}
	return rest
}

// usageWindow is what the indexes and tables did between two readings.
type usageWindow struct {
	Start, End time.Time
	// Note says what the window is, for the evidence: since the previous
	// analysis, or (the first analysis, or after a reset) since the
	// statistics were reset.
	Note string
	// scans are the indexes' idx_scan in the window, by oid; an index
	// missing was created during the window (not in the previous
	// reading) and is not judged.
	scans map[int64]int64
	// tables are the tables' counters in the window, by schema and name.
	tables map[[2]string]controlplane.TableCounter
}

// span is the window's length in ms.
func (w usageWindow) span() float64 { return float64(w.End.Sub(w.Start).Milliseconds()) }

// diffUsage subtracts the previous reading from the current one. Without
// one, or when pg_stat_database.stats_reset changed, the counters are
// taken since stats_reset (the server's start when it was never reset,
// at least: the counters may be older). A counter that went down counts
// from zero.
func diffUsage(cur usageReading, prev controlplane.UsageSnapshot, prevIdx []controlplane.IndexCounter, prevTables []controlplane.TableCounter, hasPrev bool) usageWindow {
	w := usageWindow{End: cur.TakenAt, scans: map[int64]int64{}, tables: map[[2]string]controlplane.TableCounter{}}
	reset := !hasPrev || !sameTime(cur.StatsReset, prev.StatsReset)
	since := "the statistics were reset at "
	w.Start = cur.ServerStart
	if cur.StatsReset != nil {
		w.Start = *cur.StatsReset
	} else {
		since = "the server started (the statistics were never reset, so the counters may be older) at "
	}
	switch {
	case !reset:
		w.Start = prev.TakenAt
		w.Note = "since the previous analysis at " + prev.TakenAt.UTC().Format(time.RFC3339)
	case !hasPrev:
		w.Note = "first analysis, no previous reading: counters since " + since + w.Start.UTC().Format(time.RFC3339)
	default:
		w.Note = "statistics reset during the window: counters since " + since + w.Start.UTC().Format(time.RFC3339)
	}
	prevScan := map[[2]string]controlplane.IndexCounter{}
	prevTab := map[[2]string]controlplane.TableCounter{}
	if !reset {
		for _, c := range prevIdx {
			prevScan[[2]string{c.Schema, c.Index}] = c
		}
		for _, c := range prevTables {
			prevTab[[2]string{c.Schema, c.Table}] = c
		}
	}
	for _, ix := range cur.Indexes {
		p, ok := prevScan[[2]string{ix.Schema, ix.Name}]
		switch {
		case reset:
			w.scans[ix.OID] = ix.IdxScan
		case !ok || p.OID != ix.OID:
			// Created during the window: too young to call unused.
		case ix.IdxScan < p.IdxScan:
			w.scans[ix.OID] = ix.IdxScan
		default:
			w.scans[ix.OID] = ix.IdxScan - p.IdxScan
		}
	}
	for _, t := range cur.Tables {
		d := t
		if p, ok := prevTab[[2]string{t.Schema, t.Table}]; ok && t.Inserted >= p.Inserted && t.Updated >= p.Updated &&
			t.Deleted >= p.Deleted && t.HOTUpdated >= p.HOTUpdated && t.SeqScan >= p.SeqScan && t.IdxScan >= p.IdxScan {
			d.Inserted, d.Updated, d.Deleted = t.Inserted-p.Inserted, t.Updated-p.Updated, t.Deleted-p.Deleted
			d.HOTUpdated, d.SeqScan, d.IdxScan = t.HOTUpdated-p.HOTUpdated, t.SeqScan-p.SeqScan, t.IdxScan-p.IdxScan
		}
		w.tables[[2]string{t.Schema, t.Table}] = d
	}
	return w
}

// instanceUsage is one instance's reading, window and tenants.
type instanceUsage struct {
	iw       instanceWindow
	bySchema map[string]controlplane.Tenant
	reading  usageReading
	window   usageWindow
}

// adviseIndexUsage reads every analysed instance's index and table
// statistics, vetoes the create_index advice that would turn a write-hot
// table's HOT updates into index updates (recording the vetoes in rep and
// the evidence), and adds the drop_index advice: unused and duplicate
// indexes. save stores the new readings with the analysis.
func (a *Analyzer) adviseIndexUsage(ctx context.Context, insts map[string]instanceWindow, placed map[string][]controlplane.Tenant,
	stmts []tenantStatement, recs []controlplane.Recommendation, rep *Report,
) ([]controlplane.Recommendation, func(context.Context, *controlplane.Store) error, error) {
	ids := make([]string, 0, len(insts))
	for id := range insts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var usages []instanceUsage
	for _, id := range ids {
		u := instanceUsage{iw: insts[id], bySchema: map[string]controlplane.Tenant{}}
		schemas := make([]string, 0, len(placed[id]))
		for _, t := range placed[id] {
			u.bySchema[t.Schema] = t
			schemas = append(schemas, t.Schema)
		}
		admin, err := a.cfg.Sessions.Admin(ctx, u.iw.inst)
		if err != nil {
			return nil, nil, fmt.Errorf("cost: instance %s: %w", id, err)
		}
		if u.reading, err = readUsage(ctx, admin, schemas); err != nil {
			return nil, nil, fmt.Errorf("cost: instance %s: %w", id, err)
		}
		prev, prevIdx, prevTables, ok, err := a.cfg.Store.LastUsageSnapshot(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		u.window = diffUsage(u.reading, prev, prevIdx, prevTables, ok)
		usages = append(usages, u)
	}
	recs, vetoes, err := a.vetoHOT(recs, usages, stmts)
	if err != nil {
		return nil, nil, err
	}
	rep.IndexVetoes = append(rep.IndexVetoes, vetoes...)
	drops, err := a.adviseDrops(usages)
	if err != nil {
		return nil, nil, err
	}
	save := func(ctx context.Context, tx *controlplane.Store) error {
		for _, u := range usages {
			idx := make([]controlplane.IndexCounter, len(u.reading.Indexes))
			for i, ix := range u.reading.Indexes {
				idx[i] = controlplane.IndexCounter{Schema: ix.Schema, Index: ix.Name, OID: ix.OID, IdxScan: ix.IdxScan}
			}
			snap := controlplane.UsageSnapshot{InstanceID: u.iw.inst.ID, TakenAt: u.reading.TakenAt, StatsReset: u.reading.StatsReset}
			if err := tx.SaveUsageSnapshot(ctx, snap, idx, u.reading.Tables); err != nil {
				return err
			}
		}
		return nil
	}
	return append(recs, drops...), save, nil
}
