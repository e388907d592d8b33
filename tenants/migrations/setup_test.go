package migrations

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// testTimeout bounds every test's server work.
const testTimeout = 60 * time.Second

// instance is a scratch tenant database with a superuser admin pool.
type instance struct {
	name string
	pool *pgxpool.Pool
}

// setup creates a scratch database and an admin pool on it, both gone when
// the test ends.
func setup(t testing.TB, maxConns int32) instance {
	t.Helper()
	name := cptest.ScratchDatabase(t)
	cfg, err := pgxpool.ParseConfig(config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, name))
	if err != nil {
		t.Fatalf("parse pool config: %v", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return instance{name: name, pool: pool}
}

// tenant creates a login role and a schema it owns, dropped when the test
// ends (roles are cluster-wide, so the names are unique).
func (in instance) tenant(t testing.TB) Target {
	t.Helper()
	tg := Target{Schema: cptest.UniqueName("t_"), Role: cptest.UniqueName("tf_mig_")}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	role, schema := pgx.Identifier{tg.Role}.Sanitize(), pgx.Identifier{tg.Schema}.Sanitize()
	if _, err := in.pool.Exec(ctx, "CREATE ROLE "+role+" LOGIN; CREATE SCHEMA "+schema+" AUTHORIZATION "+role); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if _, err := in.pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE; DROP ROLE "+role); err != nil {
			t.Errorf("drop tenant %s: %v", tg.Schema, err)
		}
	})
	return tg
}

// as returns a pool on the instance's database that logs in as the
// tenant's role (the server trusts local logins), closed when the test ends.
func (in instance) as(t testing.TB, tg Target) *pgxpool.Pool {
	t.Helper()
	cfg := in.pool.Config().Copy()
	cfg.ConnConfig.User = tg.Role
	pool, err := pgxpool.NewWithConfig(testContext(t), cfg)
	if err != nil {
		t.Fatalf("open pool as %s: %v", tg.Role, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newMigrator builds a Migrator or fails the test.
func newMigrator(t testing.TB, cfg Config) *Migrator {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = cptest.DiscardLogger()
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// sqlSet builds a migration set from file name -> SQL.
func sqlSet(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// testContext is a context bounded by testTimeout.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// relationExists reports whether schema.name exists.
func relationExists(t testing.TB, pool *pgxpool.Pool, schema, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(testContext(t), "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{schema, name}.Sanitize()).Scan(&ok); err != nil {
		t.Fatalf("to_regclass %s.%s: %v", schema, name, err)
	}
	return ok
}
