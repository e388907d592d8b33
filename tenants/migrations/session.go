package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// ApplicationName marks migration sessions in pg_stat_activity.
const ApplicationName = "tenantfleet-migrate"

// resetTimeout bounds the clean-up of a session before it returns to the
// pool.
const resetTimeout = 5 * time.Second

// scopeSQL turns a pooled tenant login session into the tenant's migration
// session: session-level (not transaction-local) settings, because goose
// runs several transactions, and non-transactional steps, on the one
// connection. It also reports whether the schema exists, so a missing one
// fails at once rather than in goose's version table creation (which
// retries for seconds). It switches no role: the session logged in as the
// tenant (tenants.VerifyTenantSession checked it first).
const scopeSQL = `SELECT set_config('search_path', $1, false),
       set_config('lock_timeout', $2, false),
       set_config('application_name', $3, false),
       to_regnamespace($1) IS NOT NULL`

// resetSQL undoes scopeSQL, and drops any advisory lock a failed unlock left
// behind, before the connection goes back to the caller's pool.
const resetSQL = `SELECT pg_advisory_unlock_all();
RESET ROLE; RESET search_path; RESET lock_timeout; RESET application_name`

// openTenantDB returns a *sql.DB for goose whose connections are borrowed
// from pool and scoped to the tenant. It holds at most one connection, so a
// run never needs a second connection from the pool while holding the first
// (five runs on a pool of four cannot deadlock), and closing it returns that
// connection to the pool, reset.
func openTenantDB(pool *pgxpool.Pool, t Target, lockTimeout string) *sql.DB {
	db := sql.OpenDB(&tenantConnector{
		inner:       stdlib.GetPoolConnector(pool),
		target:      t,
		lockTimeout: lockTimeout,
	})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db
}

// tenantConnector borrows a connection from a pgxpool and scopes it to one
// tenant.
type tenantConnector struct {
	inner       driver.Connector
	target      Target
	lockTimeout string
}

var _ driver.Connector = (*tenantConnector)(nil)

// Connect implements driver.Connector.
func (c *tenantConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire: %w", err)
	}
	conn, ok := dc.(*stdlib.Conn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("acquire: unexpected driver connection %T", dc)
	}
	var path, timeout, app string
	var schemaExists bool
	err = tenants.VerifyTenantSession(ctx, conn.Conn(), c.target.Role)
	if err == nil {
		err = conn.Conn().QueryRow(ctx, scopeSQL, c.target.searchPath(), c.lockTimeout, ApplicationName).
			Scan(&path, &timeout, &app, &schemaExists)
	}
	if err == nil && !schemaExists {
		err = fmt.Errorf("%w: %s", ErrSchemaNotFound, c.target.Schema)
	}
	if err != nil {
		// The session may be half scoped: never hand it back to the pool.
		_ = conn.Conn().Close(ctx)
		_ = conn.Close()
		return nil, fmt.Errorf("scope session of role %s: %w", c.target.Role, err)
	}
	return &tenantConn{Conn: conn, ctx: context.WithoutCancel(ctx)}, nil
}

// Driver implements driver.Connector.
func (c *tenantConnector) Driver() driver.Driver { return c.inner.Driver() }

// tenantConn is a pooled pgx connection scoped to a tenant. Every driver
// method but Close is the stdlib one.
type tenantConn struct {
	*stdlib.Conn
	ctx context.Context // values of the Connect context, for the reset
}

// Close resets the session and returns the connection to the pool. A
// session that cannot be reset is closed instead, so the pool drops it.
func (c *tenantConn) Close() error {
	ctx, cancel := context.WithTimeout(c.ctx, resetTimeout)
	defer cancel()
	pgxConn := c.Conn.Conn()
	if !pgxConn.IsClosed() {
		if _, err := pgxConn.Exec(ctx, resetSQL); err != nil {
			_ = pgxConn.Close(ctx)
		}
	}
	return c.Conn.Close()
}
