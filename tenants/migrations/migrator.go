package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// Migrator applies one migration set to tenant schemas. It is safe for
// concurrent use: the fleet runner shares one Migrator across all its
// workers and tenants.
type Migrator struct {
	set         *migrationSet
	lockTimeout string
	lockWait    time.Duration
	logger      *slog.Logger
}

// New reads and checks the migration set of cfg once.
func New(cfg Config) (*Migrator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	set, err := loadSet(cfg.FS)
	if err != nil {
		return nil, err
	}
	return &Migrator{
		set:         set,
		lockTimeout: cfg.lockTimeoutSetting(),
		lockWait:    cfg.TenantLockWait,
		logger:      cfg.Logger,
	}, nil
}

// Latest returns the highest version of the migration set.
func (m *Migrator) Latest() int64 { return m.set.latest() }

// Versions returns every version of the migration set, ascending.
func (m *Migrator) Versions() []int64 { return slices.Clone(m.set.versions) }

// Up migrates the tenant to the latest version. pool is a pool on the
// tenant's database that logs in as t.Role itself (tenantlogin.Logins.Open):
// the migrator refuses, with tenants.ErrNotTenantSession, a session that
// logged in as anyone else or could become more than the tenant, because
// the tenant's own objects (the version table, its tables) may carry code it
// planted. The run borrows one connection from pool. On failure the Result
// still tells what was applied before the failing migration.
func (m *Migrator) Up(ctx context.Context, pool *pgxpool.Pool, t Target) (Result, error) {
	return m.run(ctx, pool, t, m.set.latest())
}

// UpTo migrates the tenant to version, which must be in the set. A tenant
// already at or past version is left alone.
func (m *Migrator) UpTo(ctx context.Context, pool *pgxpool.Pool, t Target, version int64) (Result, error) {
	if !m.set.has(version) {
		return Result{}, fmt.Errorf("%w: %d", ErrUnknownVersion, version)
	}
	return m.run(ctx, pool, t, version)
}

// run applies the pending versions up to target, holding the tenant lock.
func (m *Migrator) run(ctx context.Context, pool *pgxpool.Pool, t Target, target int64) (res Result, err error) {
	start := time.Now()
	if err := t.validate(); err != nil {
		return Result{}, err
	}
	db := openTenantDB(pool, t, m.lockTimeout)
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("migrations: schema %s: release session: %w", t.Schema, cerr)
		}
	}()
	locker := &tenantLocker{target: t, wait: m.lockWait, poll: defaultLockPoll}
	p, err := goose.NewProvider(goose.DialectPostgres, db, m.set.fsys,
		goose.WithTableName(VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(m.logger),
	)
	if err != nil {
		return Result{}, fmt.Errorf("migrations: schema %s: %w", t.Schema, err)
	}
	results, err := p.UpTo(ctx, target)
	if err != nil {
		var partial *goose.PartialError
		if !errors.As(err, &partial) {
			return Result{}, m.classify(t, err)
		}
		results = partial.Applied
		failed := partial.Failed.Source.Version
		err = &MigrationError{Schema: t.Schema, Version: failed, File: m.set.files[failed], Err: m.cause(partial.Err)}
	}
	res = Result{Before: locker.before, Applied: make([]int64, 0, len(results))}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Version)
	}
	if !locker.locked {
		// goose found nothing pending and never locked: read the version.
		if qerr := db.QueryRowContext(ctx, "SELECT coalesce(max(version_id), 0) FROM "+t.versionTable()).Scan(&res.Before); qerr != nil {
			return Result{}, m.classify(t, qerr)
		}
	}
	res.After = res.Before
	if n := len(res.Applied); n > 0 {
		res.After = res.Applied[n-1]
	}
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	level := slog.LevelDebug
	if len(res.Applied) > 0 {
		level = slog.LevelInfo
	}
	m.logger.LogAttrs(ctx, level, "tenant schema migrated",
		slog.String("schema", t.Schema),
		slog.Int64("before", res.Before),
		slog.Int64("after", res.After),
		slog.Int("applied", len(res.Applied)),
		slog.Duration("duration", res.Duration),
	)
	return res, nil
}

// cause marks a lock timeout with ErrLockTimeout.
func (m *Migrator) cause(err error) error {
	if isLockTimeout(err) {
		return fmt.Errorf("%w: %w", ErrLockTimeout, err)
	}
	return err
}

// classify wraps an error raised outside a migration (session set-up,
// version table, tenant lock).
func (m *Migrator) classify(t Target, err error) error {
	return fmt.Errorf("migrations: schema %s: %w", t.Schema, m.cause(err))
}

// Version returns the tenant's current version: 0 when the schema was never
// migrated. It takes no lock and creates nothing.
func (m *Migrator) Version(ctx context.Context, pool *pgxpool.Pool, t Target) (int64, error) {
	applied, err := m.applied(ctx, pool, t)
	if err != nil {
		return 0, err
	}
	if len(applied) == 0 {
		return 0, nil
	}
	return applied[len(applied)-1], nil
}

// Pending returns the versions of the set not yet applied to the tenant,
// ascending. It takes no lock and creates nothing.
func (m *Migrator) Pending(ctx context.Context, pool *pgxpool.Pool, t Target) ([]int64, error) {
	applied, err := m.applied(ctx, pool, t)
	if err != nil {
		return nil, err
	}
	var pending []int64
	for _, v := range m.set.versions {
		if _, ok := slices.BinarySearch(applied, v); !ok {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

// applied returns the versions recorded in the tenant's version table,
// ascending: one round trip for a schema never migrated, two otherwise.
func (m *Migrator) applied(ctx context.Context, pool *pgxpool.Pool, t Target) ([]int64, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	var exists bool
	if err := m.scoped(ctx, pool, t, "SELECT to_regclass($1) IS NOT NULL", []any{t.versionTable()}, func(rows pgx.Rows) error {
		var err error
		exists, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
		return err
	}); err != nil || !exists {
		return nil, err
	}
	var versions []int64
	err := m.scoped(ctx, pool, t, "SELECT DISTINCT version_id FROM "+t.versionTable()+" WHERE is_applied AND version_id > 0 ORDER BY 1", nil, func(rows pgx.Rows) error {
		var err error
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	return versions, err
}

// scoped runs one query on a verified tenant session of pool.
func (m *Migrator) scoped(ctx context.Context, pool *pgxpool.Pool, t Target, query string, args []any, scan func(pgx.Rows) error) error {
	err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		if err := tenants.VerifyTenantSession(ctx, c.Conn(), t.Role); err != nil {
			return err
		}
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		return scan(rows)
	})
	if err != nil {
		return fmt.Errorf("migrations: schema %s: read version: %w", t.Schema, err)
	}
	return nil
}
