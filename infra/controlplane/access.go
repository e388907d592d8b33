package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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
// checks it is gone. It writes only when PUBLIC still has access, so the
// processes of a fleet starting at once do not race on the database's ACL
// (PostgreSQL answers "tuple concurrently updated" to the loser, which is
// retried). A fleet user that neither owns the database nor is a superuser
// cannot revoke it (PostgreSQL only warns): then the start goes on and a
// warning says what the owner must run.
func restrictPublic(ctx context.Context, pool *pgxpool.Pool, database string, logger *slog.Logger) error {
	connect, temp, err := publicAccess(ctx, pool, database)
	for attempt := 1; err == nil && (connect || temp) && attempt <= 3; attempt++ {
		if err = revokePublic(ctx, pool, database); err != nil && concurrentlyUpdated(err) {
			err = nil
		}
		if err == nil {
			connect, temp, err = publicAccess(ctx, pool, database)
		}
	}
	if err != nil {
		return err
	}
	if connect || temp {
		logger.WarnContext(ctx, "every role of the server can still connect to the control-plane database: its owner must revoke it",
			slog.String("database", database), slog.Bool("public_connect", connect), slog.Bool("public_temporary", temp),
			slog.String("run", "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgx.Identifier{database}.Sanitize()+" FROM PUBLIC"))
	}
	return nil
}

// publicAccess reads whether PUBLIC may connect to database and create
// temporary tables in it.
func publicAccess(ctx context.Context, pool *pgxpool.Pool, database string) (connect, temp bool, err error) {
	if err := pool.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT'),
		has_database_privilege('public', $1, 'TEMPORARY')`, database).Scan(&connect, &temp); err != nil {
		return false, false, fmt.Errorf("controlplane: read PUBLIC access to database %q: %w", database, err)
	}
	return connect, temp, nil
}

// concurrentlyUpdated reports PostgreSQL's "tuple concurrently updated",
// raised to the second of two sessions updating one catalog row.
func concurrentlyUpdated(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "XX000" && strings.Contains(pgErr.Message, "concurrently updated")
}
