package cost_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// storeResolver resolves routes straight from the control plane.
type storeResolver struct{ s *controlplane.Store }

func (r storeResolver) Resolve(ctx context.Context, id string) (tenants.Route, error) {
	return r.s.Route(ctx, id)
}

// runShared runs the query calls times for the tenant through the shared
// application pool (tenants.Pools: the app role's session, scoped to the
// tenant's role per transaction).
func runShared(t testing.TB, pools *tenants.Pools, tenantID string, calls int, query string, args ...any) {
	t.Helper()
	ctx := testContext(t)
	for range calls {
		err := pools.WithTenant(ctx, tenantID, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, query, args...)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("shared-pool work of %s: %v", tenantID, err)
		}
	}
}

// Work through the shared pool is attributed to the tenant whose role it
// ran as, and the second analysis counts only what ran since the first.
func TestAttributionUnderSharedPool(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "h", 3, 100)
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: storeResolver{e.store}, Fleet: e.fleet, PoolSize: 2, AcquireTimeout: 5 * time.Second,
		Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pools.Stop()
	a, b, idle := ts[0], ts[1], ts[2]
	e.analyze(t) // the baseline: setting the tenants up ran as their roles
	runShared(t, pools, a.ID, 30, `SELECT count(*) FROM orders WHERE status = $1`, "open")
	runShared(t, pools, b.ID, 10, `SELECT count(*) FROM orders WHERE status = $1`, "open")

	first := e.analyze(t)
	// Each scoped transaction also runs its COMMIT / RESET ROLE as the
	// tenant; at most that many more calls.
	assertCalls(t, usageOf(t, first.Report, a.ID), 30, 30+3*30)
	assertCalls(t, usageOf(t, first.Report, b.ID), 10, 10+3*10)
	assertCalls(t, usageOf(t, first.Report, idle.ID), 0, 0)
	ua, ub := usageOf(t, first.Report, a.ID), usageOf(t, first.Report, b.ID)
	if !(ua.Share > ub.Share) || !(ua.Share+ub.Share <= 1) || !(ua.MonthlyUSD > ub.MonthlyUSD) {
		t.Errorf("shares %g/%g, money %g/%g: want a above b, within the instance", ua.Share, ub.Share, ua.MonthlyUSD, ub.MonthlyUSD)
	}
	if usageOf(t, first.Report, idle.ID).StorageBytes <= 0 {
		t.Error("the idle tenant's schema has no storage")
	}
	if len(first.Report.Instances) != 1 || !(first.Report.FleetMonthlyUSD >= first.Report.Instances[0].MonthlyUSD) || first.Report.Incomplete {
		t.Errorf("instances %+v fleet %g: want one complete instance priced into the fleet", first.Report.Instances, first.Report.FleetMonthlyUSD)
	}

	runShared(t, pools, b.ID, 5, `SELECT count(*) FROM orders WHERE status = $1`, "open")
	second := e.analyze(t)
	assertCalls(t, usageOf(t, second.Report, b.ID), 5, 5+3*5)
	assertCalls(t, usageOf(t, second.Report, a.ID), 0, 0)

	stored, err := e.store.LatestCostReport(testContext(t))
	if err != nil || stored.ID != second.ReportID {
		t.Fatalf("latest report %d (%v), want %d", stored.ID, err, second.ReportID)
	}
}

func assertCalls(t testing.TB, u cost.TenantUsage, lo, hi int64) {
	t.Helper()
	if u.Calls < lo || u.Calls > hi {
		t.Errorf("tenant %s: %d calls, want %d to %d", u.TenantID, u.Calls, lo, hi)
	}
}

// When pg_stat_statements evicts entries (more statements than
// pg_stat_statements.max) the report says attribution is incomplete.
func TestEvictionMarksAttributionIncomplete(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"pg_stat_statements.max": "100"}, cost.Config{})
	ts := e.addInstance(t, "d", 1, 10)
	var q strings.Builder
	for i := range 150 {
		q.Reset()
		// Constants are normalized away, their number is not: 150 shapes.
		q.WriteString("SELECT 1")
		for j := range i {
			fmt.Fprintf(&q, ", %d", j)
		}
		e.runAsTenant(t, ts[0], 1, q.String())
	}
	res := e.analyze(t)
	if !res.Report.Incomplete || !strings.Contains(res.Report.Instances[0].Incomplete, "evicted") {
		t.Fatalf("report incomplete=%v (%q), want it marked incomplete by evictions", res.Report.Incomplete, res.Report.Instances[0].Incomplete)
	}
}

// A tenant that planted a policy, trigger, rule and a falsely IMMUTABLE
// index function on its table gains nothing while it is analysed, and the
// analysis planned its statements in its own login.
func TestPlantedTrapGainsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{MinCalls: 3})
	ts := e.addInstance(t, "x", 2, 300)
	attacker, victim := ts[0], ts[1]
	db := e.admin(t, e.inst(t, attacker.InstanceID).Database)
	trap := cptest.PlantTenantTrap(t, db, attacker.Schema, attacker.Role, [2]string{victim.Schema, "orders"},
		cptest.TrapTable{Name: "orders", Column: "customer_id"})
	e.runAsTenant(t, attacker, 5, hotQuery, byCustomer)
	e.runAsTenant(t, victim, 5, hotQuery, byCustomer)
	if _, err := db.Exec(testContext(t), "DELETE FROM "+pgx.Identifier{attacker.Schema, "trap_log"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	res := e.analyze(t)
	// Planning runs no policy or trigger; whatever fired ran as the tenant.
	trap.AssertGainedNothing(t, db, false)

	// Every probe of the attacker's statements ran in its own login: the
	// EXPLAINs pg_stat_statements recorded are tenants' roles'.
	var wrong int
	err := db.QueryRow(testContext(t), `SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.query LIKE '/* tenantfleet:cost-probe */ EXPLAIN%' AND r.rolname NOT LIKE $1 || '\_%'`, e.fleet).Scan(&wrong)
	if err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d probes ran as a role that is not a tenant's", wrong)
	}
	var probes int
	if err := db.QueryRow(testContext(t), `SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.query LIKE '/* tenantfleet:cost-probe */ EXPLAIN%' AND r.rolname = $1`, attacker.Role).Scan(&probes); err != nil {
		t.Fatal(err)
	}
	if probes == 0 {
		t.Error("no probe ran as the attacker: its statements were not analysed, so nothing was tested")
	}
	for _, r := range res.Recommendations {
		if r.Status != controlplane.RecommendationOpen {
			t.Errorf("recommendation %d is %s", r.ID, r.Status)
		}
	}
}
