package cost_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
)

// The HOT veto: the hot query on customer_id would be halved by an index
// on it, but one tenant's workload also updates customer_id on a
// write-hot table (mostly HOT updates): the index is not advised for it,
// the veto is in the report and the evidence; the same reads without
// those updates (or updating another column) get the index.
func TestHOTVetoStopsAnIndexOnAnUpdatedColumn(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{})
	ts := e.addInstance(t, "v", 3, 20000)
	db := e.admin(t, e.inst(t, "v").Database)
	writer, reader, other := ts[0], ts[1], ts[2]
	for _, tn := range ts {
		e.runAsTenant(t, tn, 20, hotQuery, byCustomer)
	}
	byID := func(i int) any { return int64(i%20 + 1) }
	e.runAsTenant(t, writer, 300, `UPDATE orders SET customer_id = $1 WHERE id = $2`, byCustomer, byID)
	e.runAsTenant(t, other, 300, `UPDATE orders SET status = $1 WHERE id = $2`, "open", byID)
	e.waitForStats(t, db, "updates reported", `(SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'orders'
		AND schemaname IN ($1, $2) AND n_tup_upd >= 300) = 2`, writer.Schema, other.Schema)

	res := e.analyzeCreates(t)
	if len(res.Recommendations) != 1 {
		t.Fatalf("got %d create_index recommendations, want 1: %+v", len(res.Recommendations), res.Recommendations)
	}
	r := res.Recommendations[0]
	if want := []string{reader.ID, other.ID}; !slices.Equal(r.Tenants, want) {
		t.Fatalf("tenants %v, want %v (not %s, whose updates set customer_id)", r.Tenants, want, writer.ID)
	}
	ev := evidenceOf(t, r)
	if len(ev.Tenants) != 2 || len(ev.Vetoed) != 1 {
		t.Fatalf("evidence: %d tenants, %d vetoed; want 2 and 1", len(ev.Tenants), len(ev.Vetoed))
	}
	v := ev.Vetoed[0]
	if v.TenantID != writer.ID || !slices.Equal(v.UpdatedColumns, []string{"customer_id"}) || v.UpdateCalls < 300 ||
		v.Updates < 300 || !(v.HOTRatio >= cost.HOTVetoMinRatio) || v.Statement != r.Statement || !strings.Contains(v.Reason, "HOT") ||
		!(v.CostAfter <= v.CostBefore*0.5) {
		t.Errorf("veto %+v", v)
	}
	if len(res.Report.IndexVetoes) != 1 || res.Report.IndexVetoes[0].TenantID != writer.ID {
		t.Errorf("report vetoes %+v, want the writer's", res.Report.IndexVetoes)
	}
	var sum float64
	for _, te := range ev.Tenants {
		sum += te.CostBefore
	}
	if r.CostBefore != sum {
		t.Errorf("cost_before %g, want the named tenants' %g", r.CostBefore, sum)
	}

	// Only the writer: the veto leaves no recommendation, and the report
	// says why.
	e2 := setup(t, nil, cost.Config{})
	solo := e2.addInstance(t, "w", 1, 20000)[0]
	db2 := e2.admin(t, e2.inst(t, "w").Database)
	e2.runAsTenant(t, solo, 20, hotQuery, byCustomer)
	e2.runAsTenant(t, solo, 300, `UPDATE orders SET customer_id = $1 WHERE id = $2`, byCustomer, byID)
	e2.waitForStats(t, db2, "updates reported", `(SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'orders' AND schemaname = $1) >= 300`, solo.Schema)
	res2 := e2.analyzeCreates(t)
	if len(res2.Recommendations) != 0 || len(res2.Report.IndexVetoes) != 1 {
		t.Errorf("writer alone: %d recommendations, vetoes %+v; want none and one veto", len(res2.Recommendations), res2.Report.IndexVetoes)
	}
}
