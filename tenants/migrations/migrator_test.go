package migrations

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

func TestUpFreshSchemaToLatest(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	if got, want := m.Latest(), int64(3); got != want {
		t.Fatalf("Latest() = %d, want %d", got, want)
	}
	if v, err := m.Version(ctx, in.as(t, tg), tg); err != nil || v != 0 {
		t.Fatalf("Version before = %d, %v; want 0, nil", v, err)
	}
	res, err := m.Up(ctx, in.as(t, tg), tg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if res.Before != 0 || res.After != 3 || !slices.Equal(res.Applied, []int64{1, 2, 3}) {
		t.Fatalf("Up = %+v, want Before 0, After 3, Applied [1 2 3]", res)
	}
	if v, err := m.Version(ctx, in.as(t, tg), tg); err != nil || v != 3 {
		t.Fatalf("Version after = %d, %v; want 3, nil", v, err)
	}
	if p, err := m.Pending(ctx, in.as(t, tg), tg); err != nil || len(p) != 0 {
		t.Fatalf("Pending = %v, %v; want none", p, err)
	}
	for _, rel := range []string{VersionTable, "accounts", "transactions", "audit_trail"} {
		if !relationExists(t, in.pool, tg.Schema, rel) {
			t.Errorf("%s.%s missing", tg.Schema, rel)
		}
		if relationExists(t, in.pool, "public", rel) {
			t.Errorf("public.%s exists, want everything in the tenant schema", rel)
		}
	}
}

func TestUpRerunIsNoop(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	if _, err := m.Up(ctx, in.as(t, tg), tg); err != nil {
		t.Fatalf("first Up: %v", err)
	}
	res, err := m.Up(ctx, in.as(t, tg), tg)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if res.Before != 3 || res.After != 3 || len(res.Applied) != 0 {
		t.Fatalf("second Up = %+v, want Before 3, After 3, nothing applied", res)
	}
	var rows int
	if err := in.pool.QueryRow(ctx, "SELECT count(*) FROM "+tg.versionTable()+" WHERE version_id > 0").Scan(&rows); err != nil {
		t.Fatalf("count versions: %v", err)
	}
	if rows != 3 {
		t.Fatalf("version rows = %d, want 3", rows)
	}
}

func TestUpToThenUp(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	res, err := m.UpTo(ctx, in.as(t, tg), tg, 2)
	if err != nil {
		t.Fatalf("UpTo 2: %v", err)
	}
	if !slices.Equal(res.Applied, []int64{1, 2}) || res.After != 2 {
		t.Fatalf("UpTo 2 = %+v, want Applied [1 2], After 2", res)
	}
	if p, err := m.Pending(ctx, in.as(t, tg), tg); err != nil || !slices.Equal(p, []int64{3}) {
		t.Fatalf("Pending = %v, %v; want [3]", p, err)
	}
	if relationExists(t, in.pool, tg.Schema, "audit_trail") {
		t.Fatalf("audit_trail exists at version 2")
	}
	res, err = m.UpTo(ctx, in.as(t, tg), tg, 1)
	if err != nil || res.Before != 2 || res.After != 2 || len(res.Applied) != 0 {
		t.Fatalf("UpTo 1 at version 2 = %+v, %v; want no-op at 2", res, err)
	}
	res, err = m.Up(ctx, in.as(t, tg), tg)
	if err != nil || res.Before != 2 || !slices.Equal(res.Applied, []int64{3}) {
		t.Fatalf("Up = %+v, %v; want Before 2, Applied [3]", res, err)
	}
	if _, err := m.UpTo(ctx, in.as(t, tg), tg, 42); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("UpTo 42 error = %v, want ErrUnknownVersion", err)
	}
}

func TestObjectsOwnedByTenantRole(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	if _, err := m.Up(ctx, in.as(t, tg), tg); err != nil {
		t.Fatalf("Up: %v", err)
	}
	rows, err := in.pool.Query(ctx, `
		SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 ORDER BY 1`, tg.Schema)
	if err != nil {
		t.Fatalf("list relations: %v", err)
	}
	type rel struct{ Name, Kind, Owner string }
	rels, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rel])
	if err != nil {
		t.Fatalf("list relations: %v", err)
	}
	if len(rels) < 10 {
		t.Fatalf("got %d relations in %s, want the tables, indexes and sequences of 3 migrations", len(rels), tg.Schema)
	}
	for _, r := range rels {
		if r.Owner != tg.Role {
			t.Errorf("%s (kind %s) owned by %s, want %s", r.Name, r.Kind, r.Owner, tg.Role)
		}
	}
}

func TestSessionReturnedToPoolUnscoped(t *testing.T) {
	t.Parallel()
	in := setup(t, 1)
	tg := in.tenant(t)
	login := in.as(t, tg) // one connection: the next query gets the migration's session
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	var user, path, lockTimeout string
	query := "SELECT current_user, current_setting('search_path'), current_setting('lock_timeout')"
	if err := login.QueryRow(ctx, query).Scan(&user, &path, &lockTimeout); err != nil {
		t.Fatalf("before: %v", err)
	}
	if _, err := m.Up(ctx, login, tg); err != nil {
		t.Fatalf("Up: %v", err)
	}
	var gotUser, gotPath, gotLockTimeout string
	var locks int
	if err := login.QueryRow(ctx, query).Scan(&gotUser, &gotPath, &gotLockTimeout); err != nil {
		t.Fatalf("after: %v", err)
	}
	if gotUser != user || gotPath != path || gotLockTimeout != lockTimeout {
		t.Fatalf("session after Up = (%s, %s, %s), want (%s, %s, %s)", gotUser, gotPath, gotLockTimeout, user, path, lockTimeout)
	}
	if err := login.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").Scan(&locks); err != nil {
		t.Fatalf("advisory locks: %v", err)
	}
	if locks != 0 {
		t.Fatalf("session holds %d advisory locks after Up, want 0", locks)
	}
}

func TestTenantsMigrateInParallelWhileAnotherTenantIsLocked(t *testing.T) {
	t.Parallel()
	in := setup(t, 8)
	a, b, c := in.tenant(t), in.tenant(t), in.tenant(t)
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	// Another migrator holds tenant A's lock.
	holder, err := in.pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", a.lockID()); err != nil {
		t.Fatalf("lock tenant A: %v", err)
	}

	// A waits for its lock...
	type outcome struct {
		res Result
		err error
	}
	aDone := make(chan outcome, 1)
	poolA := in.as(t, a)
	go func() {
		res, err := m.Up(ctx, poolA, a)
		aDone <- outcome{res, err}
	}()

	// ...while B and C, on the same database, migrate side by side.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tg := range []Target{b, c} {
		pool := in.as(t, tg)
		wg.Go(func() { _, errs[i] = m.Up(ctx, pool, tg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Up tenant %d while A is locked: %v", i, err)
		}
	}
	select {
	case o := <-aDone:
		t.Fatalf("Up A returned while its lock was held elsewhere: %+v, %v", o.res, o.err)
	default:
	}

	// A fresh run that won't wait long gives up with a retryable error.
	impatient := newMigrator(t, Config{TenantLockWait: 50 * time.Millisecond})
	if _, err := impatient.Up(ctx, in.as(t, a), a); !errors.Is(err, ErrTenantBusy) || !Retryable(err) {
		t.Fatalf("Up A with short wait: error = %v, want retryable ErrTenantBusy", err)
	}

	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", a.lockID()); err != nil {
		t.Fatalf("unlock tenant A: %v", err)
	}
	o := <-aDone
	if o.err != nil || !slices.Equal(o.res.Applied, []int64{1, 2, 3}) {
		t.Fatalf("Up A after unlock = %+v, %v; want Applied [1 2 3]", o.res, o.err)
	}
}

func TestFailingMigrationKeepsPreviousVersion(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{FS: sqlSet(map[string]string{
		"00001_widgets.sql": "-- +goose Up\nCREATE TABLE widgets (id int PRIMARY KEY);\n",
		"00002_broken.sql": "-- +goose Up\nCREATE TABLE gadgets (id int PRIMARY KEY);\n" +
			"INSERT INTO gadgets VALUES (1);\nSELECT no_such_column FROM widgets;\n",
		"00003_later.sql": "-- +goose Up\nCREATE TABLE later (id int);\n",
	})})
	ctx := testContext(t)

	res, err := m.Up(ctx, in.as(t, tg), tg)
	var merr *MigrationError
	if !errors.As(err, &merr) {
		t.Fatalf("Up error = %v, want a *MigrationError", err)
	}
	if merr.Version != 2 || merr.File != "00002_broken.sql" || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("error = %q (version %d, file %s), want version 2 in 00002_broken.sql", err, merr.Version, merr.File)
	}
	if Retryable(err) {
		t.Fatalf("Retryable(%v) = true, want false for a SQL error", err)
	}
	if res.After != 1 || !slices.Equal(res.Applied, []int64{1}) {
		t.Fatalf("Result = %+v, want After 1, Applied [1]", res)
	}
	if v, err := m.Version(ctx, in.as(t, tg), tg); err != nil || v != 1 {
		t.Fatalf("Version = %d, %v; want 1", v, err)
	}
	for _, rel := range []string{"gadgets", "later"} {
		if relationExists(t, in.pool, tg.Schema, rel) {
			t.Errorf("%s exists after the failed migration, want it rolled back / never run", rel)
		}
	}
}

func TestConnectionKilledMidMigrationKeepsPreviousVersion(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	first := "-- +goose Up\nCREATE TABLE widgets (id int PRIMARY KEY);\n"
	hanging := newMigrator(t, Config{FS: sqlSet(map[string]string{
		"00001_widgets.sql": first,
		"00002_gadgets.sql": "-- +goose Up\nCREATE TABLE gadgets (id int);\nSELECT pg_sleep(300);\n",
	})})
	ctx := testContext(t)

	done := make(chan error, 1)
	login := in.as(t, tg)
	go func() {
		_, err := hanging.Up(ctx, login, tg)
		done <- err
	}()
	// Kill the migration's backend while it is inside migration 2, as a
	// crashed worker or a Postgres restart would.
	var pid int32
	eventually.True(t, 30*time.Second, "migration 2 to be running", func() bool {
		err := in.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = $1 AND application_name = $2 AND query LIKE 'SELECT pg_sleep%'`,
			in.name, ApplicationName).Scan(&pid)
		return err == nil
	})
	if _, err := in.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatalf("terminate backend: %v", err)
	}
	if err := <-done; err == nil {
		t.Fatalf("Up with its backend killed returned nil error")
	}
	if v, err := hanging.Version(ctx, in.as(t, tg), tg); err != nil || v != 1 {
		t.Fatalf("Version after kill = %d, %v; want 1", v, err)
	}
	if relationExists(t, in.pool, tg.Schema, "gadgets") {
		t.Fatalf("gadgets exists after the killed migration, want it rolled back")
	}

	// A later run (fixed migration) resumes from version 1.
	fixed := newMigrator(t, Config{FS: sqlSet(map[string]string{
		"00001_widgets.sql": first,
		"00002_gadgets.sql": "-- +goose Up\nCREATE TABLE gadgets (id int);\n",
	})})
	res, err := fixed.Up(ctx, in.as(t, tg), tg)
	if err != nil || res.Before != 1 || !slices.Equal(res.Applied, []int64{2}) {
		t.Fatalf("Up after kill = %+v, %v; want Before 1, Applied [2]", res, err)
	}
}

func TestNoTransactionCreateIndexConcurrently(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{FS: sqlSet(map[string]string{
		"00001_events.sql": "-- +goose Up\nCREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL);\n" +
			"INSERT INTO events SELECT g, now() FROM generate_series(1, 1000) g;\n",
		"00002_events_at.sql": "-- +goose NO TRANSACTION\n-- +goose Up\n" +
			"DROP INDEX CONCURRENTLY IF EXISTS events_at_idx;\n" +
			"CREATE INDEX CONCURRENTLY events_at_idx ON events (at);\n",
	})})
	ctx := testContext(t)

	res, err := m.Up(ctx, in.as(t, tg), tg)
	if err != nil || !slices.Equal(res.Applied, []int64{1, 2}) {
		t.Fatalf("Up = %+v, %v; want Applied [1 2]", res, err)
	}
	var valid bool
	var owner string
	err = in.pool.QueryRow(ctx, `SELECT i.indisvalid, pg_get_userbyid(c.relowner)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.oid = to_regclass($1)`,
		pgx.Identifier{tg.Schema, "events_at_idx"}.Sanitize()).Scan(&valid, &owner)
	if err != nil {
		t.Fatalf("read index: %v", err)
	}
	if !valid || owner != tg.Role {
		t.Fatalf("events_at_idx valid=%t owner=%s, want valid and owned by %s", valid, owner, tg.Role)
	}
}

func TestLockTimeoutFailsFastThenSucceeds(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	m := newMigrator(t, Config{
		LockTimeout: 100 * time.Millisecond,
		FS: sqlSet(map[string]string{
			"00001_items.sql":      "-- +goose Up\nCREATE TABLE items (id int PRIMARY KEY);\n",
			"00002_items_note.sql": "-- +goose Up\nALTER TABLE items ADD COLUMN note text;\n",
		}),
	})
	ctx := testContext(t)
	if _, err := m.UpTo(ctx, in.as(t, tg), tg, 1); err != nil {
		t.Fatalf("UpTo 1: %v", err)
	}

	// A long transaction holds the table.
	busy, err := in.pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = busy.Rollback(ctx) }()
	if _, err := busy.Exec(ctx, "LOCK TABLE "+pgx.Identifier{tg.Schema, "items"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock items: %v", err)
	}

	res, err := m.Up(ctx, in.as(t, tg), tg)
	if !errors.Is(err, ErrLockTimeout) || !Retryable(err) {
		t.Fatalf("Up with items locked: error = %v, want retryable ErrLockTimeout", err)
	}
	var merr *MigrationError
	if !errors.As(err, &merr) || merr.Version != 2 {
		t.Fatalf("error = %v, want a *MigrationError for version 2", err)
	}
	if res.Before != 1 || res.After != 1 || len(res.Applied) != 0 {
		t.Fatalf("Result = %+v, want Before 1, After 1, nothing applied", res)
	}

	if err := busy.Rollback(ctx); err != nil {
		t.Fatalf("release items: %v", err)
	}
	res, err = m.Up(ctx, in.as(t, tg), tg)
	if err != nil || !slices.Equal(res.Applied, []int64{2}) {
		t.Fatalf("Up after release = %+v, %v; want Applied [2]", res, err)
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	m := newMigrator(t, Config{})
	ctx := testContext(t)
	for _, tg := range []Target{{Schema: "", Role: "r"}, {Schema: "s", Role: ""}, {Schema: strings.Repeat("s", 64), Role: "r"}} {
		if _, err := m.Up(ctx, nil, tg); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Up(%+v) error = %v, want ErrInvalidTarget", tg, err)
		}
		if _, err := m.Version(ctx, nil, tg); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Version(%+v) error = %v, want ErrInvalidTarget", tg, err)
		}
	}
	for name, fsys := range map[string]fstest.MapFS{
		"empty":     {},
		"duplicate": sqlSet(map[string]string{"00001_a.sql": "-- +goose Up\nSELECT 1;\n", "001_b.sql": "-- +goose Up\nSELECT 1;\n"}),
	} {
		if _, err := New(Config{FS: fsys}); err == nil {
			t.Errorf("New(%s set) error = nil, want an error", name)
		}
	}
	if _, err := New(Config{TenantLockWait: -time.Second}); err == nil {
		t.Errorf("New(negative TenantLockWait) error = nil, want an error")
	}
}

func TestMissingSchemaCreatesNothingElsewhere(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	tg.Schema += "_missing"
	m := newMigrator(t, Config{})
	ctx := testContext(t)

	if _, err := m.Up(ctx, in.as(t, tg), tg); !errors.Is(err, ErrSchemaNotFound) || !strings.Contains(err.Error(), tg.Schema) {
		t.Fatalf("Up on a missing schema: error = %v, want ErrSchemaNotFound naming %s", err, tg.Schema)
	}
	if relationExists(t, in.pool, "public", VersionTable) || relationExists(t, in.pool, "public", "accounts") {
		t.Fatalf("Up on a missing schema created tables in public")
	}
}
