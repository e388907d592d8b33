package controlplane

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// execer runs a statement: a *pgx.Conn or a *pgxpool.Pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// revokePublic takes CONNECT and TEMPORARY on the control-plane database
// away from PUBLIC, which PostgreSQL grants them by default: every role of
// the server, tenant roles and the application's login included, could
// otherwise connect to the fleet's records and create temporary tables
// there. The owner (the fleet's user when it created the database) and
// superusers keep their access. Revoking what is not granted is a no-op,
// so it runs at every start.
func revokePublic(ctx context.Context, db execer, database string) error {
	_, err := db.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgx.Identifier{database}.Sanitize()+" FROM PUBLIC")
	if err != nil {
		return fmt.Errorf("controlplane: revoke PUBLIC access to database %q: %w", database, err)
	}
	return nil
}

// restrictPublic revokes PUBLIC's access to the control-plane database and
// checks it is gone. A fleet user that neither owns the database nor is a
// superuser cannot revoke it (PostgreSQL only warns): then the start goes
// on and a warning says what the owner must run.
func restrictPublic(ctx context.Context, pool *pgxpool.Pool, database string, logger *slog.Logger) error {
	if err := revokePublic(ctx, pool, database); err != nil {
		return err
	}
	var connect, temp bool
	if err := pool.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT'),
		has_database_privilege('public', $1, 'TEMPORARY')`, database).Scan(&connect, &temp); err != nil {
		return fmt.Errorf("controlplane: read PUBLIC access to database %q: %w", database, err)
	}
	if connect || temp {
		logger.WarnContext(ctx, "every role of the server can still connect to the control-plane database: its owner must revoke it",
			slog.String("database", database), slog.Bool("public_connect", connect), slog.Bool("public_temporary", temp),
			slog.String("run", "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgx.Identifier{database}.Sanitize()+" FROM PUBLIC"))
	}
	return nil
}
