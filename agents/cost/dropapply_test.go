package cost_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// Apply of a drop_index drops the index in every tenant it names through
// the runner and a worker, each as the tenant's own role, leaves it to the
// tenant that uses it, marks the recommendation applied with the run's
// results, and a tenant that planted a trap on the table gains nothing.
func TestApplyDropsTheIndexInEveryNamedTenant(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "x", 5, 2000)
	ctx := testContext(t)
	db := e.admin(t, e.inst(t, "x").Database)
	attacker, victim, user := ts[0], ts[1], ts[4]
	for _, tn := range ts {
		cptest.AsTenant(t, db, tn.Role, tn.Schema, `CREATE INDEX orders_created_idx ON orders (created_at)`)
	}
	trap := cptest.PlantTenantTrap(t, db, attacker.Schema, attacker.Role, [2]string{victim.Schema, "orders"},
		cptest.TrapTable{Name: "orders", Column: "customer_id"})
	e.runAsTenant(t, user, 20, `SELECT id FROM orders WHERE created_at = $1`, "2020-01-01")
	e.waitForStats(t, db, "index scans reported", `(SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1
		AND indexrelname = 'orders_created_idx') >= 20`, user.Schema)
	rec, ok := dropsByIndex(t, e.analyze(t).Recommendations)["orders_created_idx"]
	named := tenantIDs(ts[:4])
	if !ok || !slices.Equal(rec.Tenants, named) {
		t.Fatalf("drop_index for orders_created_idx: %+v %v, want one naming %v", rec, ok, named)
	}
	if _, err := db.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}

	runner := e.newRunner(t)
	applied, err := cost.Apply(ctx, e.store, runner, rec.ID, "test")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := `DROP INDEX CONCURRENTLY IF EXISTS "orders_created_idx"`; applied.Statement != want || !slices.Equal(applied.Tenants, named) {
		t.Errorf("applied %+v, want %q for %v", applied, want, named)
	}
	st, err := runner.Wait(ctx, applied.RunID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.Status != migrate.RunSucceeded || st.Counts.Succeeded != len(named) {
		t.Fatalf("run %s, counts %+v; tenants %+v", st.Status, st.Counts, st.Tenants)
	}
	for _, tn := range ts {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'orders_created_idx'`,
			tn.Schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[slices.Contains(named, tn.ID)]; n != want {
			t.Errorf("tenant %s has %d orders_created_idx, want %d", tn.ID, n, want)
		}
	}
	// Every drop ran as a tenant's own role, once per named tenant.
	rows, err := db.Query(ctx, `SELECT r.rolname, s.calls FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.query LIKE 'DROP INDEX CONCURRENTLY%'`)
	if err != nil {
		t.Fatal(err)
	}
	byRole := map[string]int64{}
	for rows.Next() {
		var role string
		var calls int64
		if err := rows.Scan(&role, &calls); err != nil {
			t.Fatal(err)
		}
		byRole[role] += calls
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(byRole) != len(named) {
		t.Errorf("DROP INDEX ran as %v, want the %d named tenants' roles", byRole, len(named))
	}
	for _, tn := range ts[:4] {
		if byRole[tn.Role] != 1 {
			t.Errorf("tenant %s dropped %d times as its role", tn.ID, byRole[tn.Role])
		}
	}
	trap.AssertGainedNothing(t, db, false)

	got, err := e.store.GetRecommendation(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != controlplane.RecommendationApplied || got.MigrationRunID == nil || *got.MigrationRunID != applied.RunID ||
		!strings.Contains(got.StatusReason, "4 of 4 tenants succeeded") {
		t.Errorf("after the run: status %s run %v reason %q, want applied by run %d with its results",
			got.Status, got.MigrationRunID, got.StatusReason, applied.RunID)
	}
	if _, err := cost.Apply(ctx, e.store, runner, rec.ID, "test"); err == nil {
		t.Error("second apply accepted")
	}
}

// Forged drop_index evidence: a name carrying SQL is one quoted
// identifier (nothing by that name: the run drops nothing), and a name
// that is the table's primary key fails the tenant instead of dropping it.
func TestApplyDropQuotesAndKeepsKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	tn := e.addInstance(t, "f", 1, 10)[0]
	ctx := testContext(t)
	db := e.admin(t, e.inst(t, "f").Database)
	runner := e.newRunner(t)
	forge := func(key, index string) controlplane.Recommendation {
		t.Helper()
		r, err := e.store.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindDropIndex, Key: key,
			Tenants: []string{tn.ID}, Statement: "DROP TABLE orders",
			Evidence: []byte(`{"table": "orders", "index": "` + strings.ReplaceAll(index, `"`, `\"`) + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	evil := forge("evil", `orders_pkey"; DROP TABLE orders; --`)
	applied, err := cost.Apply(ctx, e.store, runner, evil.ID, "test")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := `DROP INDEX CONCURRENTLY IF EXISTS "orders_pkey""; DROP TABLE orders; --"`; applied.Statement != want {
		t.Errorf("statement %q, want %q", applied.Statement, want)
	}
	if st, err := runner.Wait(ctx, applied.RunID, 50*time.Millisecond, nil); err != nil || st.Status != migrate.RunSucceeded {
		t.Fatalf("run %+v %v, want succeeded (nothing by that name)", st, err)
	}
	pkey := forge("pkey", "orders_pkey")
	applied, err = cost.Apply(ctx, e.store, runner, pkey.ID, "test")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	st, err := runner.Wait(ctx, applied.RunID, 50*time.Millisecond, nil)
	if err != nil || st.Status != migrate.RunFailed || len(st.Tenants) != 1 || !strings.Contains(st.Tenants[0].Error, "primary key") {
		t.Errorf("run %+v %v, want failed: the primary key is not dropped", st, err)
	}
	var n, idx int
	if err := db.QueryRow(ctx, "SELECT count(*), (SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'orders_pkey') FROM "+
		pgx.Identifier{tn.Schema, "orders"}.Sanitize(), tn.Schema).Scan(&n, &idx); err != nil || n != 10 || idx != 1 {
		t.Errorf("orders: %d rows, %d primary key, %v", n, idx, err)
	}
	if got, err := e.store.GetRecommendation(ctx, pkey.ID); err != nil || got.Status != controlplane.RecommendationOpen {
		t.Errorf("after the failed run: %+v %v, want open", got, err)
	}
}
