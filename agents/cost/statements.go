package cost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// ErrNoStatStatements reports an instance whose server does not collect
// pg_stat_statements (not in shared_preload_libraries, or the extension
// cannot be created).
var ErrNoStatStatements = errors.New("cost: pg_stat_statements is not available")

// ErrNoHypoPG reports an instance without the HypoPG extension
// (Debian: postgresql-15-hypopg).
var ErrNoHypoPG = errors.New("cost: the hypopg extension is not available")

// HypoPGSchema is the schema the agent installs HypoPG into on every
// instance database; every tenant may use it (it holds only HypoPG's
// functions), none may create in it.
const HypoPGSchema = "fleet_hypopg"

// ensureExtensions creates pg_stat_statements and HypoPG in the instance
// database (admin DDL) and returns pg_stat_statements' schema.
func ensureExtensions(ctx context.Context, admin *pgxpool.Pool) (string, error) {
	var preloaded bool
	if err := admin.QueryRow(ctx, `SELECT 'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))`).
		Scan(&preloaded); err != nil {
		return "", fmt.Errorf("cost: read shared_preload_libraries: %w", err)
	}
	if !preloaded {
		return "", fmt.Errorf("%w: the server's shared_preload_libraries does not include it", ErrNoStatStatements)
	}
	if _, err := admin.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoStatStatements, err)
	}
	hypo := pgx.Identifier{HypoPGSchema}.Sanitize()
	for _, ddl := range []string{
		`CREATE SCHEMA IF NOT EXISTS ` + hypo,
		`CREATE EXTENSION IF NOT EXISTS hypopg WITH SCHEMA ` + hypo,
		`REVOKE CREATE ON SCHEMA ` + hypo + ` FROM PUBLIC`,
		`GRANT USAGE ON SCHEMA ` + hypo + ` TO PUBLIC`,
	} {
		if _, err := admin.Exec(ctx, ddl); err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrNoHypoPG, ddl, err)
		}
	}
	var schema string
	if err := admin.QueryRow(ctx, `SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'`).
		Scan(&schema); err != nil {
		return "", fmt.Errorf("cost: find pg_stat_statements: %w", err)
	}
	return schema, nil
}

// statement is one pg_stat_statements entry of the instance's database:
// its cumulative counters and normalized text.
type statement struct {
	controlplane.CostCounter
	Query string
}

// reading is one read of an instance's pg_stat_statements.
type reading struct {
	TakenAt    time.Time
	StatsReset *time.Time
	Dealloc    int64
	Statements []statement
}

// statementsSQL reads the current database's statements, summed over
// toplevel and nested entries. %s is pg_stat_statements' schema.
const statementsSQL = `
SELECT s.dbid::bigint, s.userid::bigint, s.queryid, sum(s.calls)::bigint, sum(s.total_exec_time), sum(s.total_plan_time),
       sum(s.rows)::bigint, sum(s.shared_blks_hit)::bigint, sum(s.shared_blks_read)::bigint, min(s.query)
FROM %[1]s.pg_stat_statements(true) s
WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND s.queryid IS NOT NULL
GROUP BY 1, 2, 3`

// readStatements reads the instance's statements and
// pg_stat_statements_info through the admin session.
func readStatements(ctx context.Context, admin *pgxpool.Pool, schema string) (reading, error) {
	var r reading
	q := pgx.Identifier{schema}.Sanitize()
	if err := admin.QueryRow(ctx, `SELECT pg_catalog.now(), stats_reset, dealloc FROM `+q+`.pg_stat_statements_info`).
		Scan(&r.TakenAt, &r.StatsReset, &r.Dealloc); err != nil {
		return r, fmt.Errorf("cost: read pg_stat_statements_info: %w", err)
	}
	rows, err := admin.Query(ctx, fmt.Sprintf(statementsSQL, q))
	if err != nil {
		return r, fmt.Errorf("cost: read pg_stat_statements: %w", err)
	}
	r.Statements, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (statement, error) {
		var s statement
		err := row.Scan(&s.DBID, &s.UserID, &s.QueryID, &s.Calls, &s.ExecMS, &s.PlanMS, &s.Rows,
			&s.SharedBlksHit, &s.SharedBlksRead, &s.Query)
		return s, err
	})
	if err != nil {
		return r, fmt.Errorf("cost: read pg_stat_statements: %w", err)
	}
	return r, nil
}

// counterKey identifies a statement within an instance.
type counterKey struct{ DBID, UserID, QueryID int64 }

// window is the difference of two readings: what ran between them.
type window struct {
	Start, End time.Time
	Statements []statement
	// Incomplete says why some of the window's statements may be missing.
	Incomplete string
}

// diff subtracts the previous snapshot from the current reading. A
// statement whose counters went down (evicted and re-entered, or a reset)
// counts from zero. Without a previous snapshot the window starts at the
// server's stats_reset.
func diff(cur reading, prev controlplane.CostSnapshot, prevCounters []controlplane.CostCounter, hasPrev bool) window {
	w := window{End: cur.TakenAt}
	base := map[counterKey]controlplane.CostCounter{}
	reset := !hasPrev
	if hasPrev {
		w.Start = prev.TakenAt
		if !sameTime(cur.StatsReset, prev.StatsReset) {
			reset = true
			w.Incomplete = "pg_stat_statements was reset during the window"
		} else {
			for _, c := range prevCounters {
				base[counterKey{c.DBID, c.UserID, c.QueryID}] = c
			}
		}
		if cur.Dealloc > prev.Dealloc {
			w.Incomplete = fmt.Sprintf("pg_stat_statements evicted statements %d times during the window (raise pg_stat_statements.max)", cur.Dealloc-prev.Dealloc)
		}
	}
	if reset {
		if cur.StatsReset != nil {
			w.Start = *cur.StatsReset
		}
		if cur.Dealloc > 0 && w.Incomplete == "" {
			w.Incomplete = fmt.Sprintf("pg_stat_statements evicted statements %d times since its reset (raise pg_stat_statements.max)", cur.Dealloc)
		}
	}
	for _, s := range cur.Statements {
		d := s
		if b, ok := base[counterKey{s.DBID, s.UserID, s.QueryID}]; ok && s.Calls >= b.Calls && s.ExecMS >= b.ExecMS {
			d.Calls -= b.Calls
			d.ExecMS -= b.ExecMS
			d.PlanMS = max(d.PlanMS-b.PlanMS, 0)
			d.Rows = max(d.Rows-b.Rows, 0)
			d.SharedBlksHit = max(d.SharedBlksHit-b.SharedBlksHit, 0)
			d.SharedBlksRead = max(d.SharedBlksRead-b.SharedBlksRead, 0)
		}
		if d.Calls > 0 {
			w.Statements = append(w.Statements, d)
		}
	}
	return w
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// snapshotOf turns a reading into what the control plane keeps.
func snapshotOf(instanceID string, r reading) (controlplane.CostSnapshot, []controlplane.CostCounter) {
	counters := make([]controlplane.CostCounter, len(r.Statements))
	for i, s := range r.Statements {
		counters[i] = s.CostCounter
	}
	return controlplane.CostSnapshot{InstanceID: instanceID, TakenAt: r.TakenAt, StatsReset: r.StatsReset, Dealloc: r.Dealloc}, counters
}
