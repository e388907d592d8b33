package cost_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// env is one test's fleet: a control plane on the shared test server and
// its instances on a private cluster with pg_stat_statements preloaded
// (the shared server starts without it).
type env struct {
	fleet    string
	cluster  *pgtest.Cluster
	cp       *pgxpool.Pool
	store    *controlplane.Store
	sessions *sessions.Sessions
	analyzer *cost.Analyzer
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// setup starts the cluster; settings are extra postgresql.conf settings.
func setup(t testing.TB, settings map[string]string, cfg cost.Config) *env {
	t.Helper()
	all := map[string]string{"shared_preload_libraries": "pg_stat_statements"}
	for k, v := range settings {
		all[k] = v
	}
	e := &env{fleet: cptest.UniqueName("co"), cluster: pgtest.Start(t, pgtest.Options{Settings: all})}
	_, e.cp = cptest.Database(t)
	e.store = controlplane.NewStore(e.cp)
	e.sessions = sessionstest.Local(t, e.cluster.URL("postgres"))
	cfg.Store, cfg.Sessions, cfg.Fleet, cfg.Logger = e.store, e.sessions, e.fleet, cptest.DiscardLogger()
	var err error
	if e.analyzer, err = cost.New(cfg); err != nil {
		t.Fatalf("cost.New: %v", err)
	}
	return e
}

// admin connects as the superuser to a database of the cluster.
func (e *env) admin(t testing.TB, database string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(testContext(t), e.cluster.URL(database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// addInstance creates an instance database with n shared tenants, each
// with an orders table of rows rows, and records them in the catalog.
func (e *env) addInstance(t testing.TB, id string, n, rows int) []controlplane.Tenant {
	t.Helper()
	return e.addInstanceOf(t, id, tenants.Shared, n, rows)
}

// addInstanceOf is addInstance with the instance's and tenants' tier.
func (e *env) addInstanceOf(t testing.TB, id string, tier tenants.Tier, n, rows int) []controlplane.Tenant {
	t.Helper()
	ctx := testContext(t)
	database := "inst_" + id
	root := e.admin(t, "postgres")
	if _, err := root.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.cluster.URL(database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := tenants.PrepareDatabase(ctx, conn, e.fleet, database); err != nil {
		t.Fatalf("PrepareDatabase: %v", err)
	}
	if _, err := e.store.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: id, Status: provider.StatusReady,
		Host: "127.0.0.1", Port: e.cluster.Port, Database: database}, Provider: "local", Tier: tier}); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	var out []controlplane.Tenant
	for i := range n {
		tid := fmt.Sprintf("%s-t%03d", id, i)
		names, err := tenants.NamesFor(e.fleet, tid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreateTenant(ctx, controlplane.Tenant{ID: tid, Name: tid, Tier: tier}); err != nil {
			t.Fatal(err)
		}
		if err := tenants.EnsureTenant(ctx, conn, names); err != nil {
			t.Fatalf("EnsureTenant: %v", err)
		}
		if _, err := e.store.SetTenantPlacement(ctx, tid, controlplane.Placement{InstanceID: id, Database: database,
			Schema: names.Schema, Role: names.Role}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.SetTenantStatus(ctx, tid, tenants.TenantActive, ""); err != nil {
			t.Fatal(err)
		}
		// The tenant's own table, created as the tenant.
		cptest.AsTenant(t, conn, names.Role, names.Schema, `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL,
				status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), note text);
				INSERT INTO orders (customer_id, status, created_at, note)
				SELECT g % 1000, CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END, now() - g * interval '1 minute', repeat('x', 40)
				FROM generate_series(1, `+fmt.Sprint(rows)+`) g;
				ANALYZE orders`)
		tn, err := e.store.GetTenant(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tn)
	}
	return out
}

// inst returns the catalog row of an instance.
func (e *env) inst(t testing.TB, id string) controlplane.Instance {
	t.Helper()
	i, err := e.store.GetInstance(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// runAsTenant runs query calls times in a session logged in as the tenant.
func (e *env) runAsTenant(t testing.TB, tn controlplane.Tenant, calls int, query string, args ...any) {
	t.Helper()
	ctx := testContext(t)
	names, err := tenants.NamesFor(e.fleet, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := e.sessions.Tenant(ctx, e.inst(t, tn.InstanceID), names, 1)
	if err != nil {
		t.Fatalf("tenant session %s: %v", tn.ID, err)
	}
	defer pool.Close()
	for i := range calls {
		a := make([]any, len(args))
		for j, v := range args {
			if f, ok := v.(func(int) any); ok {
				a[j] = f(i)
			} else {
				a[j] = v
			}
		}
		rows, err := pool.Query(ctx, query, a...)
		if err != nil {
			t.Fatalf("workload of %s: %v", tn.ID, err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("workload of %s: %v", tn.ID, err)
		}
	}
}

func (e *env) analyze(t testing.TB) cost.Result {
	t.Helper()
	res, err := e.analyzer.Analyze(testContext(t))
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return res
}

func usageOf(t testing.TB, r cost.Report, tenantID string) cost.TenantUsage {
	t.Helper()
	for _, u := range r.Tenants {
		if u.TenantID == tenantID {
			return u
		}
	}
	t.Fatalf("tenant %s not in the report", tenantID)
	return cost.TenantUsage{}
}

// hotQuery is the workload's statement: by an unindexed column.
const hotQuery = `SELECT id, status FROM orders WHERE customer_id = $1`

func byCustomer(i int) any { return int64(i % 1000) }

// analyzeCreates is analyze with only the create_index advice in
// Recommendations (the tables' unused indexes are advised too).
func (e *env) analyzeCreates(t testing.TB) cost.Result {
	t.Helper()
	res := e.analyze(t)
	res.Recommendations = ofKind(res.Recommendations, cost.KindCreateIndex)
	return res
}

// ofKind keeps the recommendations of one kind.
func ofKind(recs []controlplane.Recommendation, kind string) []controlplane.Recommendation {
	var out []controlplane.Recommendation
	for _, r := range recs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// waitForStats waits until the instance database's statistics show what
// the workload did (backends report their counters lazily, at the latest
// when they exit): cond is an SQL condition over the statistics views,
// read in a transaction of its own (a fresh statistics snapshot).
func (e *env) waitForStats(t testing.TB, db *pgxpool.Pool, what, cond string, args ...any) {
	t.Helper()
	eventually.True(t, 30*time.Second, what, func() bool {
		var ok bool
		err := db.QueryRow(testContext(t), "SELECT "+cond, args...).Scan(&ok)
		return err == nil && ok
	})
}
