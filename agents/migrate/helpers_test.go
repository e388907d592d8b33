package migrate_test

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// testTimeout bounds every test.
const testTimeout = 3 * time.Minute

// threeSteps is the test migration set: a table, a composite index built
// CONCURRENTLY outside a transaction, a column with a default.
var threeSteps = sqlSet(map[string]string{
	"00001_widgets.sql": `-- +goose Up
CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO widgets (name) SELECT 'w' || g FROM generate_series(1, 10) g;
-- +goose Down
DROP TABLE widgets;
`,
	"00002_widgets_name_idx.sql": `-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS widgets_name_idx;
CREATE INDEX CONCURRENTLY widgets_name_idx ON widgets (name, created_at);
-- +goose Down
DROP INDEX widgets_name_idx;
`,
	"00003_widgets_status.sql": `-- +goose Up
ALTER TABLE widgets ADD COLUMN status text NOT NULL DEFAULT 'new';
-- +goose Down
ALTER TABLE widgets DROP COLUMN status;
`,
})

func sqlSet(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// env is one test's fleet: a control plane, a Redis database, instances
// with tenants, a Runner and the workers the test starts.
type env struct {
	t        testing.TB
	fleet    string
	cpURL    string
	cp       *pgxpool.Pool
	redisURL string
	rdb      *redis.Client
	queue    *queue.Client
	catalog  *controlplane.Store
	adminURL string
	sessions *sessions.Sessions
	runner   *migrate.Runner
	migrator *migrations.Migrator
	fsys     fs.FS
}

// options tune setup.
type options struct {
	fsys        fs.FS
	load        load.Source
	lockTimeout time.Duration
	maxAttempts int
	adminURL    string // default: the test server
	leaseTTL    time.Duration
	// reconcileMinAge: default 0 (the reconciler looks at every tenant).
	reconcileMinAge time.Duration
	redisURL        string // default: a leased database of the test server
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// setup builds a fleet with no instance yet.
func setup(t testing.TB, o options) *env {
	t.Helper()
	e := &env{t: t, fleet: cptest.UniqueName("mg")}
	e.adminURL = o.adminURL
	if e.adminURL == "" {
		e.adminURL = config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	}
	// Registered first, so it runs last, after the databases are dropped.
	// A private cluster (adminURL set) goes away with its roles.
	if o.adminURL == "" {
		cptest.DropFleetRolesAtCleanup(t, e.adminURL, e.fleet)
	}
	e.cpURL, e.cp = cptest.Database(t)
	if o.redisURL != "" {
		opts, err := redis.ParseURL(o.redisURL)
		if err != nil {
			t.Fatalf("redis url: %v", err)
		}
		e.redisURL, e.rdb = o.redisURL, redis.NewClient(opts)
		t.Cleanup(func() { _ = e.rdb.Close() })
	} else {
		e.redisURL, e.rdb = cptest.RedisDB(t)
	}
	e.queue = queue.NewClient(e.rdb)
	t.Cleanup(func() { _ = e.queue.Close() })
	e.catalog = controlplane.NewStore(e.cp)
	e.fsys = o.fsys
	if e.fsys == nil {
		e.fsys = threeSteps
	}
	var err error
	e.migrator, err = migrations.New(migrations.Config{FS: e.fsys, LockTimeout: o.lockTimeout, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("migrations.New: %v", err)
	}
	e.sessions = sessionstest.Local(t, e.adminURL)
	e.runner = e.newRunner(t, o)
	return e
}

func (e *env) newRunner(t testing.TB, o options) *migrate.Runner {
	t.Helper()
	r, err := migrate.New(migrate.Config{
		DB: e.cp, Redis: e.rdb, Queue: e.queue, Fleet: e.fleet, Migrator: e.migrator,
		Sessions: e.sessions, Load: o.load, LeaseTTL: o.leaseTTL,
		MaxAttempts: o.maxAttempts, RetryBackoff: 100 * time.Millisecond,
		PauseRecheck: 200 * time.Millisecond, LoadTTL: time.Millisecond,
		ReconcileEvery: time.Second, ReconcileMinAge: cmp.Or(o.reconcileMinAge, -1),
		Logger: cptest.DiscardLogger(),
	})
	if err != nil {
		t.Fatalf("migrate.New: %v", err)
	}
	return r
}

// instance is one instance database with its tenants.
type instance struct {
	id       string
	database string
	tenants  []string
}

// addInstance creates an instance database on the server of adminURL
// (a scratch database on the test server unless database is given) with
// n tenants, recorded in the catalog and readied with the isolation DDL.
func (e *env) addInstance(t testing.TB, id string, n int, database string, host string, port int) instance {
	t.Helper()
	ctx := testContext(t)
	if database == "" {
		database = cptest.ScratchDatabase(t)
	}
	conn, err := pgx.Connect(ctx, config.WithDatabase(e.adminURL, database))
	if err != nil {
		t.Fatalf("connect to instance database: %v", err)
	}
	defer conn.Close(ctx)
	if err := tenants.PrepareDatabase(ctx, conn, e.fleet, database); err != nil {
		t.Fatalf("PrepareDatabase: %v", err)
	}
	if _, err := e.catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: id, Status: provider.StatusReady, Host: host, Port: port, Database: database}, Provider: "local", Tier: tenants.Shared}); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	in := instance{id: id, database: database}
	for i := range n {
		tid := fmt.Sprintf("%s-t%03d", id, i)
		names, err := tenants.NamesFor(e.fleet, tid)
		if err != nil {
			t.Fatalf("NamesFor: %v", err)
		}
		if _, err := e.catalog.CreateTenant(ctx, controlplane.Tenant{ID: tid, Name: tid, Tier: tenants.Shared}); err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		if err := tenants.EnsureTenant(ctx, conn, names); err != nil {
			t.Fatalf("EnsureTenant: %v", err)
		}
		if _, err := e.catalog.SetTenantPlacement(ctx, tid, controlplane.Placement{InstanceID: id, Database: database,
			Schema: names.Schema, Role: names.Role}); err != nil {
			t.Fatalf("SetTenantPlacement: %v", err)
		}
		if _, err := e.catalog.SetTenantStatus(ctx, tid, tenants.TenantActive, ""); err != nil {
			t.Fatalf("SetTenantStatus: %v", err)
		}
		in.tenants = append(in.tenants, tid)
	}
	return in
}

// startWorker starts a worker running r's handlers on the maintenance
// queue (tenant tasks) and the default queue (the reconciler), stopped when
// the test ends.
func (e *env) startWorker(t testing.TB, r *migrate.Runner, concurrency int) *queue.Worker {
	t.Helper()
	w, err := queue.NewWorker(queue.WorkerConfig{
		Redis: e.rdb, Concurrency: concurrency, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Queues: map[string]int{queue.QueueMaintenance: 1, queue.QueueDefault: 1},
		Logger: cptest.DiscardLogger(),
	})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	r.Register(w)
	if err := w.Start(testContext(t)); err != nil {
		t.Fatalf("worker Start: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// wait waits for the run to finish.
func (e *env) wait(t testing.TB, runID int64) migrate.RunStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := e.runner.Wait(ctx, runID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("Wait run %d: %v (last: %+v)", runID, err, st.Counts)
	}
	return st
}

// version reads a tenant's version, logged in as the tenant.
func (e *env) version(t testing.TB, inst instance, tenantID string) int64 {
	t.Helper()
	ctx := testContext(t)
	in, err := e.catalog.GetInstance(ctx, inst.id)
	if err != nil {
		t.Fatalf("GetInstance: %v", err)
	}
	names, _ := tenants.NamesFor(e.fleet, tenantID)
	pool, err := e.sessions.Tenant(ctx, in, names, 1)
	if err != nil {
		t.Fatalf("tenant session of %s: %v", tenantID, err)
	}
	defer pool.Close()
	v, err := e.migrator.Version(ctx, pool, migrations.Target{Schema: names.Schema, Role: names.Role})
	if err != nil {
		t.Fatalf("Version %s: %v", tenantID, err)
	}
	return v
}

// instancePool is an admin pool on the instance's database.
func (e *env) instancePool(t testing.TB, inst instance) *pgxpool.Pool {
	t.Helper()
	ctx := testContext(t)
	in, err := e.catalog.GetInstance(ctx, inst.id)
	if err != nil {
		t.Fatalf("GetInstance: %v", err)
	}
	pool, err := e.sessions.Admin(ctx, in)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	return pool
}
