// Package controlplane owns the fleet's control-plane database: it creates
// the database when missing, takes PUBLIC's CONNECT and TEMPORARY on it
// away, and applies the embedded schema migrations under a session advisory
// lock, so processes starting together are safe.
package controlplane

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock key goose holds while migrating the
// control plane; any constant distinct from tenant migration locks works.
const migrationLockID int64 = 0x7466_636f_6e74 // "tfcont"

// Open connects to the control-plane database at databaseURL, creating the
// database first if it does not exist, revokes PUBLIC's CONNECT and
// TEMPORARY on it (at every start, for databases created before or by
// someone else), then migrates it to the latest version. The caller closes
// the returned pool.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (*pgxpool.Pool, error) {
	if err := EnsureDatabase(ctx, databaseURL); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("controlplane: connect: %w", err)
	}
	if err := restrictPublic(ctx, pool, pool.Config().ConnConfig.Database, logger); err != nil {
		pool.Close()
		return nil, err
	}
	if err := Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Migrate applies every pending control-plane migration.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db)
	if err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("controlplane: migrate: %w", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "control-plane migration applied",
			slog.String("source", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		return nil, fmt.Errorf("controlplane: migration lock: %w", err)
	}
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("controlplane: migrations: %w", err)
	}
	// Out of order: migration numbers are handed out to parallel changes, so
	// a control plane may have applied a higher one (00055) before a lower
	// one lands (00050); each migration stands on its own.
	provider, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("controlplane: migrations: %w", err)
	}
	return provider, nil
}

// EnsureDatabase creates the database named in databaseURL when it does not
// exist, connecting to the server's postgres database to do so, and
// revokes PUBLIC's CONNECT and TEMPORARY on it at once. pgxpool parameters
// in the URL (pool_max_conns…) are accepted.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("controlplane: parse database URL: %w", err)
	}
	connCfg := poolCfg.ConnConfig
	name := connCfg.Database
	if name == "" {
		return errors.New("controlplane: the database URL names no database")
	}
	probe, err := pgx.ConnectConfig(ctx, connCfg.Copy())
	if err == nil {
		return probe.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("controlplane: connect: %w", err)
	}
	admin := connCfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("controlplane: connect to create database %q: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if isDuplicateDatabase(err) {
		return nil // created by a process starting beside us
	}
	if err != nil {
		return fmt.Errorf("controlplane: create database %q: %w", name, err)
	}
	return revokePublic(ctx, conn, name)
}

func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P04" // duplicate_database
}
