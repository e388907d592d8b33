package cost_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func evidenceOf(t testing.TB, r controlplane.Recommendation) cost.IndexEvidence {
	t.Helper()
	var ev cost.IndexEvidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatalf("evidence of %d: %v", r.ID, err)
	}
	return ev
}

// An unindexed hot query yields one recommendation with a verified cost
// drop of at least half; the same query on an indexed table yields none.
func TestUnindexedHotQueryYieldsOneVerifiedRecommendation(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "a", 2, 20000)
	plain, indexed := ts[0], ts[1]
	e.runAsTenant(t, indexed, 1, `CREATE INDEX orders_customer_idx ON orders (customer_id)`)
	e.runAsTenant(t, plain, 20, hotQuery, byCustomer)
	e.runAsTenant(t, indexed, 20, hotQuery, byCustomer)

	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	r := res.Recommendations[0]
	if r.Kind != cost.KindCreateIndex || r.Status != controlplane.RecommendationOpen || !slices.Equal(r.Tenants, []string{plain.ID}) {
		t.Fatalf("got %s %s for %v, want an open create_index for %s only", r.Kind, r.Status, r.Tenants, plain.ID)
	}
	if want := `CREATE INDEX CONCURRENTLY IF NOT EXISTS "fleet_orders_customer_id_idx" ON "orders" ("customer_id")`; r.Statement != want {
		t.Errorf("statement %q, want %q", r.Statement, want)
	}
	if !(r.CostAfter <= r.CostBefore*0.5) || r.CostAfter <= 0 {
		t.Errorf("cost %g -> %g: not halved", r.CostBefore, r.CostAfter)
	}
	ev := evidenceOf(t, r)
	if len(ev.Tenants) != 1 || ev.Tenants[0].Calls < 20 || ev.Tenants[0].Statement == "" || !(ev.Tenants[0].SavedMSPerMonth > 0) {
		t.Errorf("evidence %+v: want one tenant with its calls, statement and saved time", ev)
	}
	if !(r.MonthlySavingUSD > 0) {
		t.Errorf("monthly saving %g, want > 0", r.MonthlySavingUSD)
	}

	// A second analysis finds the same recommendation, not a second one;
	// a dismissed one stays dismissed.
	e.runAsTenant(t, plain, 20, hotQuery, byCustomer)
	again := e.analyzeCreates(t)
	if len(again.Recommendations) != 1 || again.Recommendations[0].ID != r.ID {
		t.Fatalf("second analysis: %+v, want recommendation %d again", again.Recommendations, r.ID)
	}
	if _, err := e.store.SetRecommendationStatus(testContext(t), r.ID, controlplane.RecommendationDismissed, "test", nil); err != nil {
		t.Fatal(err)
	}
	e.runAsTenant(t, plain, 20, hotQuery, byCustomer)
	third := e.analyzeCreates(t)
	if len(third.Recommendations) != 1 || third.Recommendations[0].Status != controlplane.RecommendationDismissed {
		t.Fatalf("after dismiss: %+v, want it still dismissed", third.Recommendations)
	}
}

// The same shape across 20 tenant schemas (20 queryids on PostgreSQL 15)
// yields one recommendation naming all 20, each with its own costs.
func TestSameShapeAcrossTenantsYieldsOneRecommendation(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "s", 20, 5000)
	var ids []string
	for _, tn := range ts {
		e.runAsTenant(t, tn, 12, hotQuery, byCustomer)
		ids = append(ids, tn.ID)
	}
	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	r := res.Recommendations[0]
	if !slices.Equal(r.Tenants, ids) {
		t.Fatalf("tenants %v, want all 20 %v", r.Tenants, ids)
	}
	ev := evidenceOf(t, r)
	if len(ev.Tenants) != 20 {
		t.Fatalf("evidence for %d tenants, want 20", len(ev.Tenants))
	}
	for _, te := range ev.Tenants {
		if !(te.CostAfter <= te.CostBefore*0.5) {
			t.Errorf("tenant %s: cost %g -> %g, not halved", te.TenantID, te.CostBefore, te.CostAfter)
		}
	}
}

// A two-column index is recommended only when it halves the best single
// column's cost again: for customer_id = $1 ORDER BY created_at over a few
// rows per customer, the single column wins.
func TestTwoColumnIndexMustHalveSingleColumnAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "p", 1, 20000)
	e.runAsTenant(t, ts[0], 15, `SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at`, byCustomer)
	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	if ev := evidenceOf(t, res.Recommendations[0]); !slices.Equal(ev.Columns, []string{"customer_id"}) {
		t.Errorf("columns %v, want [customer_id]: the pair does not halve the single column's cost", ev.Columns)
	}
}

// A join's condition names the column an index on the scanned side would
// serve: orders joined on customer_id from one customer found by email
// gets the index on orders (customer_id), verified halved.
func TestJoinConditionYieldsAnIndexOnTheJoinedColumn(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	tn := e.addInstance(t, "j", 1, 20000)[0]
	db := e.admin(t, e.inst(t, "j").Database)
	cptest.AsTenant(t, db, tn.Role, tn.Schema, `CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE);
		INSERT INTO customers SELECT g, 'c' || g FROM generate_series(0, 999) g;
		ANALYZE customers`)
	e.runAsTenant(t, tn, 15, `SELECT o.id FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.email = $1`,
		func(i int) any { return fmt.Sprintf("c%d", i) })
	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	r := res.Recommendations[0]
	if ev := evidenceOf(t, r); ev.Table != "orders" || !slices.Equal(ev.Columns, []string{"customer_id"}) || !(r.CostAfter <= r.CostBefore*0.5) {
		t.Errorf("recommended %s %v, cost %g -> %g; want orders (customer_id), halved", ev.Table, ev.Columns, r.CostBefore, r.CostAfter)
	}
}
