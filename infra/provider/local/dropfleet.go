package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// AdminDB is the part of an admin connection or pool DropFleetDatabases
// uses.
type AdminDB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DropFleetDatabases drops every instance database of fleet on the server
// (the databases DatabaseName gives for any id), disconnecting their
// sessions. Tests and benchmarks use it to remove a scratch fleet; it is
// idempotent.
func DropFleetDatabases(ctx context.Context, db AdminDB, fleet string) error {
	rows, _ := db.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1 || '\_inst\_%'`, fleet)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("local: list databases of fleet %s: %w", fleet, err)
	}
	var errs []error
	for _, name := range names {
		if _, err := db.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("local: drop %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
