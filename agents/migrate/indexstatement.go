package migrate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A run may roll out one statement instead of the migration set
// (migration_runs.statement, Spec.Statement). The only statements the
// runner accepts are the ones CreateIndexStatement and DropIndexStatement
// (dropindex.go) build: an index built or dropped concurrently on the
// tenant's own table, every name a quoted identifier. Anything else fails
// the run at Start (and, should a row be written by hand, each tenant at
// its attempt): no free SQL reaches a tenant.

// ErrInvalidStatement refuses a run statement that is not one
// CreateIndexStatement or DropIndexStatement builds.
var ErrInvalidStatement = errors.New("migrate: statement is not a fleet CREATE or DROP INDEX CONCURRENTLY")

// ValidateStatement accepts exactly the statements CreateIndexStatement
// and DropIndexStatement build.
func ValidateStatement(sql string) error {
	if _, err := ParseIndexStatement(sql); err == nil {
		return nil
	}
	_, err := ParseDropIndexStatement(sql)
	return err
}

// runStatement runs a run's statement for one tenant: the index build or
// drop, on the tenant's own login in its schema.
func runStatement(ctx context.Context, pool *pgxpool.Pool, w work, statement string, lockTimeout time.Duration) error {
	if _, err := ParseDropIndexStatement(statement); err == nil {
		return dropIndex(ctx, pool, w, statement, lockTimeout)
	}
	return buildIndex(ctx, pool, w, statement, lockTimeout)
}

// maxIdentifier is PostgreSQL's identifier length, in bytes.
const maxIdentifier = 63

// IndexBuild is an index a run builds in each tenant's schema.
type IndexBuild struct {
	// Name is the index's name, unqualified.
	Name string
	// Table is the tenant's table, unqualified (it resolves in the
	// tenant's schema).
	Table string
	// Columns are the indexed columns, in order.
	Columns []string
}

func (b IndexBuild) validate() error {
	if len(b.Columns) == 0 || len(b.Columns) > 32 {
		return fmt.Errorf("%w: %d columns", ErrInvalidStatement, len(b.Columns))
	}
	for _, n := range append([]string{b.Name, b.Table}, b.Columns...) {
		if err := validIdentifier(n); err != nil {
			return err
		}
	}
	return nil
}

// validIdentifier accepts a name a statement may quote: 1 to 63 bytes of
// UTF-8, no NUL.
func validIdentifier(n string) error {
	if n == "" || len(n) > maxIdentifier || !utf8.ValidString(n) || strings.ContainsRune(n, 0) {
		return fmt.Errorf("%w: identifier %q: 1 to %d bytes of UTF-8, no NUL", ErrInvalidStatement, n, maxIdentifier)
	}
	return nil
}

// CreateIndexStatement is the DDL of b, every name quoted: CREATE INDEX
// CONCURRENTLY IF NOT EXISTS "name" ON "table" ("col", ...).
func CreateIndexStatement(b IndexBuild) (string, error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	cols := make([]string, len(b.Columns))
	for i, c := range b.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	return "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + pgx.Identifier{b.Name}.Sanitize() + " ON " +
		pgx.Identifier{b.Table}.Sanitize() + " (" + strings.Join(cols, ", ") + ")", nil
}

const quotedIdent = `"(?:[^"\x00]|"")+"`

var indexStatementRE = regexp.MustCompile(`^CREATE INDEX CONCURRENTLY IF NOT EXISTS (` + quotedIdent + `) ON (` +
	quotedIdent + `) \((` + quotedIdent + `(?:, ` + quotedIdent + `)*)\)$`)

var quotedIdentRE = regexp.MustCompile(quotedIdent)

func unquote(q string) string { return strings.ReplaceAll(q[1:len(q)-1], `""`, `"`) }

// ParseIndexStatement reads back a statement CreateIndexStatement built;
// anything else is ErrInvalidStatement.
func ParseIndexStatement(sql string) (IndexBuild, error) {
	m := indexStatementRE.FindStringSubmatch(sql)
	if m == nil {
		return IndexBuild{}, ErrInvalidStatement
	}
	b := IndexBuild{Name: unquote(m[1]), Table: unquote(m[2])}
	for _, c := range quotedIdentRE.FindAllString(m[3], -1) {
		b.Columns = append(b.Columns, unquote(c))
	}
	if again, err := CreateIndexStatement(b); err != nil || again != sql {
		return IndexBuild{}, ErrInvalidStatement
	}
	return b, nil
}

// fromIndexInSchema finds the index named $2 in schema $1 (pg_index i,
// its pg_class c): the statement runs' catalog reads select from it, and
// get no row when there is no such index.
const fromIndexInSchema = `
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`

// indexStateSQL reads the index's validity in the tenant's schema.
const indexStateSQL = `SELECT i.indisvalid` + fromIndexInSchema

// buildIndex runs the run's statement on the tenant's own login (pool),
// scoped to its schema: a conn of its own, no transaction (CONCURRENTLY
// refuses one), the migrator's lock_timeout. An INVALID index of the same
// name, left by an earlier build that failed, is dropped (concurrently)
// first, since IF NOT EXISTS would keep it. It checks that the index is
// valid afterwards.
func buildIndex(ctx context.Context, pool *pgxpool.Pool, w work, statement string, lockTimeout time.Duration) error {
	b, err := ParseIndexStatement(statement)
	if err != nil {
		return err
	}
	conn, err := scopedConn(ctx, pool, w, lockTimeout)
	if err != nil {
		return err
	}
	defer conn.release(ctx)
	var valid bool
	err = conn.QueryRow(ctx, indexStateSQL, w.Schema, b.Name).Scan(&valid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case !valid:
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{w.Schema, b.Name}.Sanitize()); err != nil {
			return fmt.Errorf("drop the invalid index %s left by a failed build: %w", b.Name, err)
		}
	}
	if err := conn.execDDL(ctx, statement); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, indexStateSQL, w.Schema, b.Name).Scan(&valid); err != nil {
		return fmt.Errorf("index %s after its build: %w", b.Name, err)
	}
	if !valid {
		return fmt.Errorf("index %s is invalid after its build", b.Name)
	}
	return nil
}
