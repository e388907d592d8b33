package migrate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// The second statement a run may roll out (fleet cost apply of a
// drop_index recommendation): DROP INDEX CONCURRENTLY IF EXISTS "name",
// the name a quoted identifier, unqualified (it resolves in the tenant's
// schema).

// DropIndexStatement is the DDL dropping the index name in each tenant's
// schema: DROP INDEX CONCURRENTLY IF EXISTS "name".
func DropIndexStatement(name string) (string, error) {
	if err := validIdentifier(name); err != nil {
		return "", err
	}
	return "DROP INDEX CONCURRENTLY IF EXISTS " + pgx.Identifier{name}.Sanitize(), nil
}

var dropIndexStatementRE = regexp.MustCompile(`^DROP INDEX CONCURRENTLY IF EXISTS (` + quotedIdent + `)$`)

// ParseDropIndexStatement reads back the index name of a statement
// DropIndexStatement built; anything else is ErrInvalidStatement.
func ParseDropIndexStatement(sql string) (string, error) {
	m := dropIndexStatementRE.FindStringSubmatch(sql)
	if m == nil {
		return "", ErrInvalidStatement
	}
	name := unquote(m[1])
	if again, err := DropIndexStatement(name); err != nil || again != sql {
		return "", ErrInvalidStatement
	}
	return name, nil
}

// droppableIndexSQL reads what the drop must not touch, for the index of
// that name in the tenant's schema: no row when there is none.
const droppableIndexSQL = `SELECT i.indisprimary OR i.indisunique OR i.indisexclusion OR i.indisreplident
    OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)` + fromIndexInSchema

// dropIndex runs the run's DROP INDEX statement on the tenant's own login
// (pool), scoped to its schema like buildIndex: a conn of its own, no
// transaction, the migrator's lock_timeout. An index that is not in the
// tenant's schema is already gone: nothing runs (IF EXISTS would look on
// in pg_catalog). One that has become a primary key, unique, exclusion,
// constraint or replica identity index since the advice fails the
// tenant: the fleet never drops those.
func dropIndex(ctx context.Context, pool *pgxpool.Pool, w work, statement string, lockTimeout time.Duration) error {
	name, err := ParseDropIndexStatement(statement)
	if err != nil {
		return err
	}
	conn, err := scopedConn(ctx, pool, w, lockTimeout)
	if err != nil {
		return err
	}
	defer conn.release(ctx)
	var protected bool
	err = conn.QueryRow(ctx, droppableIndexSQL, w.Schema, name).Scan(&protected)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case protected:
		return fmt.Errorf("index %s backs a primary key, unique, exclusion or replica identity: not dropped", name)
	}
	if err := conn.execDDL(ctx, statement); err != nil {
		return err
	}
	switch err := conn.QueryRow(ctx, droppableIndexSQL, w.Schema, name).Scan(&protected); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("index %s after its drop: %w", name, err)
	}
	return fmt.Errorf("index %s is still there after its drop", name)
}

// tenantConn is a tenant-login connection scoped to its schema for one
// run statement.
type tenantConn struct {
	*pgxpool.Conn
}

// scopedConn acquires a connection of the tenant's own login, checks it is
// the tenant's session, and sets search_path (the tenant's schema, then
// pg_catalog: the statement's unqualified names resolve in its schema
// first), lock_timeout and application_name.
func scopedConn(ctx context.Context, pool *pgxpool.Pool, w work, lockTimeout time.Duration) (*tenantConn, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if err := tenants.VerifyTenantSession(ctx, conn.Conn(), w.Role); err != nil {
		conn.Release()
		return nil, err
	}
	timeout := "0"
	if lockTimeout > 0 {
		timeout = fmt.Sprintf("%dms", lockTimeout.Milliseconds())
	}
	path := pgx.Identifier{w.Schema}.Sanitize() + ", pg_catalog"
	if _, err := conn.Exec(ctx, `SELECT set_config('search_path', $1, false), set_config('lock_timeout', $2, false),
		set_config('application_name', $3, false)`, path, timeout, migrations.ApplicationName); err != nil {
		conn.Release()
		return nil, err
	}
	return &tenantConn{conn}, nil
}

// release resets the settings and returns the connection: it goes back to
// the pool the tenant's sessions share (the pool is closed after the
// attempt, but a failed reset must not hide the statement's result).
func (c *tenantConn) release(ctx context.Context) {
	_, _ = c.Exec(context.WithoutCancel(ctx), `RESET search_path; RESET lock_timeout; RESET application_name`)
	c.Release()
}

// execDDL runs a run's statement; a lock_timeout is ErrLockTimeout,
// retried with backoff like a migration's.
func (c *tenantConn) execDDL(ctx context.Context, statement string) error {
	if _, err := c.Exec(ctx, statement); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return fmt.Errorf("%w: %w", migrations.ErrLockTimeout, err)
		}
		return err
	}
	return nil
}
