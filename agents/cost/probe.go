package cost

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// probe is one pinned session logged in as a tenant's role, with the
// tenant's schema as search_path, that plans the tenant's statements with
// and without hypothetical indexes. Nothing it does executes a statement:
// EXPLAIN without ANALYZE, and HypoPG's indexes exist only in the session.
type probe struct {
	conn   *pgxpool.Conn
	schema string
}

// probeTag begins every statement a probe sends, so the attribution can
// tell the fleet's probes from the tenant's own work in
// pg_stat_statements (which keeps comments).
const probeTag = "/* tenantfleet:cost-probe */ "

// probeStatementTimeout bounds every statement of a probe.
const probeStatementTimeout = "5s"

// openProbe pins a session of the tenant's pool (a Sessions.Tenant pool)
// and sets it up.
func openProbe(ctx context.Context, pool *pgxpool.Pool, schema string) (*probe, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cost: tenant session: %w", err)
	}
	p := &probe{conn: conn, schema: schema}
	for _, q := range []string{
		"SET search_path = " + pgx.Identifier{schema}.Sanitize(),
		"SET plan_cache_mode = force_generic_plan",
		"SET statement_timeout = '" + probeStatementTimeout + "'",
		"SELECT " + hypo("hypopg_reset") + "()",
	} {
		if _, err := conn.Exec(ctx, probeTag+q); err != nil {
			conn.Release()
			return nil, fmt.Errorf("cost: set up tenant session: %s: %w", q, err)
		}
	}
	return p, nil
}

func hypo(fn string) string { return pgx.Identifier{HypoPGSchema, fn}.Sanitize() }

// close drops the session's hypothetical indexes and returns the session.
func (p *probe) close(ctx context.Context) {
	_, _ = p.conn.Exec(ctx, probeTag+"SELECT "+hypo("hypopg_reset")+"()")
	// Through pgx, which forgets its own cached statements with the
	// server's: a plain DEALLOCATE ALL would leave the next probe on this
	// connection calling a cached EXPLAIN the server no longer has.
	_ = p.conn.Conn().DeallocateAll(ctx)
	p.conn.Release()
}

// errNotPlannable marks a statement the agent does not plan: not a single
// SELECT, UPDATE or DELETE.
var errNotPlannable = errors.New("cost: statement is not a single SELECT, UPDATE or DELETE")

var paramRef = regexp.MustCompile(`\$(\d+)`)

// plannable returns the statement without a trailing semicolon, or
// errNotPlannable.
func plannable(query string) (string, error) {
	q := strings.TrimRight(strings.TrimSpace(query), "; \t\n")
	head := strings.ToLower(strings.SplitN(strings.TrimSpace(q), " ", 2)[0])
	if strings.Contains(q, ";") || (head != "select" && head != "update" && head != "delete") {
		return "", errNotPlannable
	}
	if strings.Contains(q, HypoPGSchema) || strings.Contains(q, "pg_catalog.") {
		return "", errNotPlannable // the fleet's own probes and catalog reads
	}
	return q, nil
}

// explain plans a normalized statement ($1, $2... for its constants) as a
// generic plan: PREPARE, then EXPLAIN EXECUTE with NULLs, which under
// plan_cache_mode force_generic_plan are not folded into the plan.
func (p *probe) explain(ctx context.Context, query string) (planNode, error) {
	n := 0
	for _, m := range paramRef.FindAllStringSubmatch(query, -1) {
		if v, err := strconv.Atoi(m[1]); err == nil {
			n = max(n, v)
		}
	}
	if _, err := p.conn.Exec(ctx, "PREPARE fleet_cost_probe AS "+query); err != nil {
		return planNode{}, fmt.Errorf("cost: prepare: %w", err)
	}
	defer func() { _, _ = p.conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE fleet_cost_probe") }()
	args := ""
	if n > 0 {
		args = "(" + strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") + ")"
	}
	var raw []byte
	if err := p.conn.QueryRow(ctx, probeTag+"EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE fleet_cost_probe"+args).Scan(&raw); err != nil {
		return planNode{}, fmt.Errorf("cost: explain: %w", err)
	}
	return parsePlan(raw)
}

// indexDDL is the CREATE INDEX of a btree on table's columns.
func indexDDL(schema, table string, cols []string) string {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	return "CREATE INDEX ON " + pgx.Identifier{schema, table}.Sanitize() + " USING btree (" + strings.Join(quoted, ", ") + ")"
}

// costWith is the statement's planner cost with a hypothetical btree on
// table's columns.
func (p *probe) costWith(ctx context.Context, query, table string, cols []string) (float64, error) {
	if _, err := p.conn.Exec(ctx, probeTag+"SELECT 1 FROM "+hypo("hypopg_create_index")+"($1)", indexDDL(p.schema, table, cols)); err != nil {
		return 0, fmt.Errorf("cost: hypothetical index on %s %v: %w", table, cols, err)
	}
	defer func() { _, _ = p.conn.Exec(context.WithoutCancel(ctx), probeTag+"SELECT "+hypo("hypopg_reset")+"()") }()
	plan, err := p.explain(ctx, query)
	if err != nil {
		return 0, err
	}
	return plan.TotalCost, nil
}

// btreeColumnsSQL lists the key columns of every btree index of a table,
// in order; an expression column reads as "". The table's oid comes from
// scalar subqueries so every catalog is read through its index (a join
// could be planned as scans of pg_index and pg_class, tens of ms each in a
// database of 1,000 tenant schemas).
const btreeColumnsSQL = probeTag + `
SELECT array(SELECT coalesce(a.attname::text, '') FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
             ORDER BY k.ord)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
WHERE i.indrelid = (SELECT t.oid FROM pg_catalog.pg_class t
                    WHERE t.relname = $2 AND t.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = $1))
  AND i.indpred IS NULL`

// btreeIndexes returns the key columns of the table's btree indexes (not
// partial ones), read from the catalogs in the tenant's session.
func (p *probe) btreeIndexes(ctx context.Context, table string) ([][]string, error) {
	rows, err := p.conn.Query(ctx, btreeColumnsSQL, p.schema, table)
	if err != nil {
		return nil, fmt.Errorf("cost: indexes of %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	if err != nil {
		return nil, fmt.Errorf("cost: indexes of %s: %w", table, err)
	}
	return out, nil
}

// coveredBy reports whether cols are a prefix of an existing index's key.
func coveredBy(cols []string, indexes [][]string) bool {
	for _, idx := range indexes {
		if len(idx) >= len(cols) && slices.Equal(idx[:len(cols)], cols) {
			return true
		}
	}
	return false
}
