package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// lease is one borrowed connection and the admission slot it holds.
type lease struct {
	tp   *tenantPool
	bc   *bconn
	conn *pgx.Conn
	// strict: the connection logged in as the tenant's own role, whose
	// search_path is set on the role; it needs no scoping.
	strict   bool
	route    Route
	priority Priority
	start    time.Time
}

func (l *lease) release() {
	// A connection left inside a transaction (a failed COMMIT, a cancelled
	// query) is closed rather than reused. The connection goes back before
	// the slot, so a granted caller always finds room in the budget.
	l.tp.conns.put(l.bc, l.priority == Batch)
	now := time.Now()
	l.tp.lastUsed.Store(now.UnixNano())
	l.tp.gate.release(l.route.TenantID, l.priority, now.Sub(l.start))
}

// The scoping SQL. Role and schema come from a route checked by safeName,
// and are quoted anyway.
const (
	// scopeSQL scopes the implicit transaction of a pipelined batch.
	// application_name is set to the role too: shared-pool sessions all
	// log in as the application role, and this is how the health sweep
	// tells their tenants apart in pg_stat_activity.
	scopeSQL = `SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('search_path', $2, true), pg_catalog.set_config('application_name', $1, true)`
	// scopeReadOnlySQL also makes it read-only.
	scopeReadOnlySQL = scopeSQL + `, pg_catalog.set_config('transaction_read_only', 'on', true)`
	// commitSQL runs deferred checks as the tenant, undoes any session-level
	// SET ROLE or search_path the work made (they would outlive the
	// transaction), then commits: one round trip.
	commitSQL = `SET CONSTRAINTS ALL IMMEDIATE; RESET ROLE; RESET search_path; COMMIT`
)

// beginSQL begins a transaction and scopes it to the route, as one
// simple-protocol query: one round trip.
func beginSQL(r Route, readOnly bool) string {
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	return begin + "; SELECT pg_catalog.set_config('role', " + quoteLiteral(r.Role) +
		", true), pg_catalog.set_config('search_path', " + quoteLiteral(searchPath(r)) + ", true)" +
		", pg_catalog.set_config('application_name', " + quoteLiteral(r.Role) + ", true)"
}

func searchPath(r Route) string { return pgx.Identifier{r.Schema}.Sanitize() }

// quoteLiteral quotes s as a SQL string literal (standard_conforming_strings
// on, the default since PostgreSQL 9.1).
func quoteLiteral(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// WithTenant runs fn inside one transaction scoped to the tenant: its
// role (so only its own data is reachable) and its schema as search_path.
// For a pooled tenant, BEGIN and the scoping go to the server in one round
// trip; the scoping is transaction-local, so nothing outlives the
// transaction. A strict tenant's connection logged in as its role, with its
// search_path set on the role: a plain BEGIN. fn's error (or panic) rolls
// back; otherwise the transaction commits. fn must not keep tx after it
// returns.
//
// Admission: the tenant's work waits its fair turn on a shared pool (see
// PoolsConfig) at the priority of ctx (WithPriority), and fails with a
// *PoolExhaustedError after the acquire deadline.
func (p *Pools) WithTenant(ctx context.Context, tenantID string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return p.withTenant(ctx, tenantID, false, fn)
}

// WithTenantReadOnly is WithTenant with a READ ONLY transaction.
func (p *Pools) WithTenantReadOnly(ctx context.Context, tenantID string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return p.withTenant(ctx, tenantID, true, fn)
}

func (p *Pools) withTenant(ctx context.Context, tenantID string, readOnly bool, fn func(context.Context, pgx.Tx) error) (err error) {
	l, err := p.acquire(ctx, tenantID, readOnly)
	if err != nil {
		return err
	}
	defer l.release()
	opts := pgx.TxOptions{BeginQuery: beginSQL(l.route, readOnly), CommitQuery: commitSQL}
	if l.strict {
		opts = pgx.TxOptions{}
		if readOnly {
			opts.AccessMode = pgx.ReadOnly
		}
	}
	tx, err := l.conn.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("tenants: begin for %s: %w", tenantID, err)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(r)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("tenants: rollback for %s: %w", tenantID, rbErr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("tenants: commit for %s: %w", tenantID, err)
	}
	return nil
}

// Exec runs one statement scoped to the tenant. For a pooled tenant the
// scoping and the statement go to the server in one pipelined round trip
// and run in one (implicit) transaction; a strict tenant's warm connection
// runs the statement alone.
func (p *Pools) Exec(ctx context.Context, tenantID, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := p.batch(ctx, tenantID, false, sql, args, statement{
		direct: func(conn *pgx.Conn) (err error) { tag, err = conn.Exec(ctx, sql, args...); return err },
		read:   func(br pgx.BatchResults) (err error) { tag, err = br.Exec(); return err },
	})
	return tag, err
}

// QueryRow runs one query scoped to the tenant when the returned row is
// scanned, in one pipelined round trip like Exec. Scan returns
// pgx.ErrNoRows when the query returns no row, and admission errors such
// as a *PoolExhaustedError.
func (p *Pools) QueryRow(ctx context.Context, tenantID, sql string, args ...any) pgx.Row {
	return &row{p: p, ctx: ctx, tenant: tenantID, sql: sql, args: args}
}

// QueryRowReadOnly is QueryRow in a read-only transaction.
func (p *Pools) QueryRowReadOnly(ctx context.Context, tenantID, sql string, args ...any) pgx.Row {
	return &row{p: p, ctx: ctx, tenant: tenantID, sql: sql, args: args, readOnly: true}
}

type row struct {
	p        *Pools
	ctx      context.Context
	tenant   string
	sql      string
	args     []any
	readOnly bool
}

func (r *row) Scan(dest ...any) error {
	return r.p.batch(r.ctx, r.tenant, r.readOnly, r.sql, r.args, statement{
		direct: func(conn *pgx.Conn) error { return conn.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...) },
		read:   func(br pgx.BatchResults) error { return br.QueryRow().Scan(dest...) },
	})
}

// statement is one caller statement, run either alone on a strict
// connection (direct) or as the second query of a batch (read gets its
// result).
type statement struct {
	direct func(*pgx.Conn) error
	read   func(pgx.BatchResults) error
}

// strictReadOnlySQL makes the implicit transaction of a strict tenant's
// batch read-only; nothing else needs scoping there.
const strictReadOnlySQL = `SELECT pg_catalog.set_config('transaction_read_only', 'on', true)`

// batch runs one statement for the tenant. On a pooled tenant's
// connection it sends the scoping and the statement in a single pipelined
// batch (one Sync, hence one implicit transaction); on a strict tenant's
// connection the statement runs alone, or after strictReadOnlySQL in one
// batch when readOnly.
func (p *Pools) batch(ctx context.Context, tenantID string, readOnly bool, sql string, args []any, st statement) error {
	l, err := p.acquire(ctx, tenantID, readOnly)
	if err != nil {
		return err
	}
	defer l.release()
	var b *pgx.Batch
	switch {
	case l.strict && !readOnly:
		err = st.direct(l.conn)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("tenants: query for %s: %w", tenantID, err)
		}
		return err
	case l.strict:
		b = &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{{SQL: strictReadOnlySQL}, {SQL: sql, Arguments: args}}}
	default:
		scope := scopeSQL
		if readOnly {
			scope = scopeReadOnlySQL
		}
		if err := prepareScoped(ctx, l.conn, l.route, scope, sql); err != nil {
			return fmt.Errorf("tenants: prepare for %s: %w", tenantID, err)
		}
		b = &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{
			{SQL: scope, Arguments: []any{l.route.Role, searchPath(l.route)}},
			{SQL: sql, Arguments: args},
		}}
	}
	br := l.conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		err = st.read(br)
	}
	if closeErr := br.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("tenants: query for %s: %w", tenantID, err)
	}
	return err
}

// preparedKey is the pgconn CustomData entry listing the statements
// prepareScoped prepared on a connection.
const preparedKey = "tenants.prepared"

// maxPrepared bounds the statements prepared on one connection; past it
// they are all deallocated and prepared again as needed.
const maxPrepared = 256

// prepareScoped makes sure the scope statement and sql are prepared on
// conn, so that a batch runs them in a single round trip. pgx would
// otherwise describe sql in a round trip of its own before the batch, i.e.
// before the scoping: an unqualified tenant table would not resolve. So
// the first use on a connection prepares sql inside a scoped transaction
// (three round trips, once); later uses find it prepared. The server
// re-plans a prepared statement when run under another search_path, so one
// statement serves every tenant of the pool whose tables have the same
// shape.
func prepareScoped(ctx context.Context, conn *pgx.Conn, r Route, scope, sql string) error {
	data := conn.PgConn().CustomData()
	prepared, _ := data[preparedKey].(map[string]struct{})
	if prepared == nil {
		prepared = map[string]struct{}{}
		data[preparedKey] = prepared
	}
	_, okScope := prepared[scope]
	_, okSQL := prepared[sql]
	if okScope && okSQL {
		return nil
	}
	if len(prepared) >= maxPrepared {
		if err := conn.DeallocateAll(ctx); err != nil {
			return err
		}
		clear(prepared)
	}
	if _, err := conn.Exec(ctx, beginSQL(r, false)); err != nil {
		return err
	}
	for _, q := range []string{scope, sql} {
		if _, err := conn.Prepare(ctx, q, q); err != nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			return err
		}
		prepared[q] = struct{}{}
	}
	_, err := conn.Exec(ctx, "ROLLBACK")
	return err
}
