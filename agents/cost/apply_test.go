package cost_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// newRunner is a fleet migration runner on a leased Redis database, with
// one worker serving it.
func (e *env) newRunner(t testing.TB) *migrate.Runner {
	t.Helper()
	_, rdb := cptest.RedisDB(t)
	q := queue.NewClient(rdb)
	t.Cleanup(func() { _ = q.Close() })
	migrator, err := migrations.New(migrations.Config{Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := migrate.New(migrate.Config{DB: e.cp, Redis: rdb, Queue: q, Fleet: e.fleet, Migrator: migrator,
		Sessions: e.sessions, RetryBackoff: 100 * time.Millisecond, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: rdb, Concurrency: 4, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Queues: map[string]int{queue.QueueMaintenance: 1, queue.QueueDefault: 1},
		Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.Register(w)
	if err := w.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return r
}

// The same shape across tenant schemas is one recommendation; apply builds
// the index in every tenant's schema through the runner, as each tenant
// (rebuilding an INVALID index a failed build left), marks it applied with
// the run, a re-analysis no longer advises it, and a tenant that planted a
// trap on the table gains nothing.
func TestApplyBuildsTheIndexInEveryTenantThroughTheRunner(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "a", 6, 5000)
	ctx := testContext(t)
	db := e.admin(t, e.inst(t, "a").Database)
	attacker, victim, broken := ts[0], ts[1], ts[2]
	trap := cptest.PlantTenantTrap(t, db, attacker.Schema, attacker.Role, [2]string{victim.Schema, "orders"},
		cptest.TrapTable{Name: "orders", Column: "customer_id"})
	var ids []string
	for _, tn := range ts {
		e.runAsTenant(t, tn, 12, hotQuery, byCustomer)
		ids = append(ids, tn.ID)
	}
	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	rec := res.Recommendations[0]
	if !slices.Equal(rec.Tenants, ids) {
		t.Fatalf("tenants %v, want all of %v", rec.Tenants, ids)
	}

	// A build that failed before left an INVALID index of the same name
	// (a unique index over duplicates): IF NOT EXISTS alone would keep it.
	brokenIndex := pgx.Identifier{broken.Schema, "orders"}.Sanitize()
	if _, err := db.Exec(ctx, "CREATE UNIQUE INDEX CONCURRENTLY fleet_orders_customer_id_idx ON "+brokenIndex+" (customer_id)"); err == nil {
		t.Fatal("unique index over duplicates built")
	}
	var valid bool
	if err := db.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relnamespace = $1::regnamespace AND c.relname = 'fleet_orders_customer_id_idx'`, broken.Schema).Scan(&valid); err != nil || valid {
		t.Fatalf("planted index: valid %v, %v; want an INVALID one", valid, err)
	}
	if _, err := db.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "DELETE FROM "+pgx.Identifier{attacker.Schema, "trap_log"}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	runner := e.newRunner(t)
	applied, err := cost.Apply(ctx, e.store, runner, rec.ID, "test")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if applied.Statement != rec.Statement || !slices.Equal(applied.Tenants, ids) {
		t.Errorf("applied %+v, want the recommendation's statement and tenants", applied)
	}
	st, err := runner.Wait(ctx, applied.RunID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.Status != migrate.RunSucceeded || st.Counts.Succeeded != len(ts) {
		t.Fatalf("run %s, counts %+v; tenants %+v", st.Status, st.Counts, st.Tenants)
	}

	// Every tenant has the index, valid and not unique, in its own schema.
	for _, tn := range ts {
		var valid, unique bool
		err := db.QueryRow(ctx, `SELECT i.indisvalid, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'fleet_orders_customer_id_idx'`,
			tn.Schema).Scan(&valid, &unique)
		if err != nil {
			t.Fatalf("index of %s: %v", tn.ID, err)
		}
		if !valid || unique {
			t.Errorf("index of %s: valid %v unique %v, want a valid plain index", tn.ID, valid, unique)
		}
	}
	// Every build (and the drop of the invalid one) ran as a tenant's own
	// role, one per tenant.
	rows, err := db.Query(ctx, `SELECT r.rolname, s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.query LIKE 'CREATE INDEX CONCURRENTLY%' OR s.query LIKE 'DROP INDEX CONCURRENTLY%'`)
	if err != nil {
		t.Fatal(err)
	}
	byRole := map[string][]string{}
	for rows.Next() {
		var role, query string
		if err := rows.Scan(&role, &query); err != nil {
			t.Fatal(err)
		}
		byRole[role] = append(byRole[role], query)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(byRole) != len(ts) {
		t.Errorf("index DDL ran as %d roles, want the %d tenants': %v", len(byRole), len(ts), byRole)
	}
	for _, tn := range ts {
		want := 1
		if tn.ID == broken.ID {
			want = 2
		}
		if got := byRole[tn.Role]; len(got) != want {
			t.Errorf("tenant %s ran %v, want %d statements", tn.ID, got, want)
		}
	}
	trap.AssertGainedNothing(t, db, false)

	got, err := e.store.GetRecommendation(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != controlplane.RecommendationApplied || got.MigrationRunID == nil || *got.MigrationRunID != applied.RunID ||
		!strings.Contains(got.StatusReason, "6 of 6 tenants succeeded") {
		t.Errorf("after the run: status %s run %v reason %q, want applied by run %d with its results",
			got.Status, got.MigrationRunID, got.StatusReason, applied.RunID)
	}
	if _, err := cost.Apply(ctx, e.store, runner, rec.ID, "test"); !errors.Is(err, controlplane.ErrRecommendationNotOpen) {
		t.Errorf("second apply: %v, want ErrRecommendationNotOpen", err)
	}

	// The same workload again: the index exists, nothing to advise.
	for _, tn := range ts {
		e.runAsTenant(t, tn, 12, hotQuery, byCustomer)
	}
	for _, r := range e.analyzeCreates(t).Recommendations {
		if r.Status == controlplane.RecommendationOpen {
			t.Errorf("re-analysis still advises %+v", r)
		}
	}
}

// apply refuses what it cannot roll out, and quotes whatever the evidence
// names: a table name carrying SQL is one identifier, never SQL.
func TestApplyRefusesAndQuotes(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "q", 1, 10)
	ctx := testContext(t)
	runner := e.newRunner(t)

	drop, err := e.store.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindDropIndex, Key: "orders(x)", Tenants: []string{ts[0].ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cost.Apply(ctx, e.store, runner, drop.ID, "test"); !errors.Is(err, cost.ErrNotApplicable) {
		t.Errorf("apply drop_index: %v, want ErrNotApplicable", err)
	}
	if _, err := cost.Apply(ctx, e.store, runner, 1<<40, "test"); !errors.Is(err, controlplane.ErrRecommendationNotFound) {
		t.Errorf("apply unknown: %v, want ErrRecommendationNotFound", err)
	}

	evil := `orders" (id); DROP TABLE orders; --`
	forged, err := e.store.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex, Key: "forged",
		Tenants: []string{ts[0].ID}, Statement: "DROP TABLE orders",
		Evidence: []byte(`{"table": "` + strings.ReplaceAll(evil, `"`, `\"`) + `", "columns": ["customer_id"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cost.Apply(ctx, e.store, runner, forged.ID, "test")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !strings.HasPrefix(applied.Statement, `CREATE INDEX CONCURRENTLY IF NOT EXISTS "fleet_orders"" (id); DROP TABLE orders`) ||
		!strings.Contains(applied.Statement, ` ON "orders"" (id); DROP TABLE orders; --" ("customer_id")`) {
		t.Errorf("statement %q: the stored statement was used, or the name was not quoted", applied.Statement)
	}
	st, err := runner.Wait(ctx, applied.RunID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No such table: the tenant fails, the recommendation stays open with
	// the run's results, and the orders table is still there.
	if st.Status != migrate.RunFailed || st.Counts.Failed != 1 {
		t.Fatalf("run %s %+v, want failed", st.Status, st.Counts)
	}
	got, err := e.store.GetRecommendation(ctx, forged.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != controlplane.RecommendationOpen || !strings.Contains(got.StatusReason, "0 of 1 tenants succeeded, 1 failed") {
		t.Errorf("after the failed run: %s %q", got.Status, got.StatusReason)
	}
	var n int
	if err := e.admin(t, e.inst(t, "q").Database).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{ts[0].Schema, "orders"}.Sanitize()).Scan(&n); err != nil || n != 10 {
		t.Errorf("orders: %d rows, %v", n, err)
	}
	// Applying again retries the failed run instead of starting another.
	again, err := cost.Apply(context.WithoutCancel(ctx), e.store, runner, forged.ID, "test")
	if err != nil || again.RunID != applied.RunID || !again.Duplicate {
		t.Errorf("apply again: %+v %v, want run %d retried", again, err, applied.RunID)
	}
}
