package main

import (
	"slices"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// TestCostScoreMatchesByKindTenantAndIndex: each planted problem is found
// by its kind and its tenants or index, whatever else the evidence holds;
// anything else is false, including the right kind naming a wrong tenant
// or index.
func TestCostScoreMatchesByKindTenantAndIndex(t *testing.T) {
	plan := newCostPlan(20, 30)
	var hot []string
	for _, id := range plan.ids {
		if plan.hot[id] {
			hot = append(hot, id)
		}
	}
	if len(hot) != 18 || plan.dominant != "bench-00000" || !plan.hot[plan.dominant] {
		t.Fatalf("plan: %d hot tenants, dominant %s", len(hot), plan.dominant)
	}
	rec := func(kind string, tenants []string, evidence string) controlplane.Recommendation {
		return controlplane.Recommendation{Kind: kind, Tenants: tenants, Evidence: []byte(evidence)}
	}
	index := `{"table": "orders", "columns": ["customer_id"]}`

	if s := scoreCost(plan, 100, nil); s.planted != 4 || s.found != 0 || len(s.falses) != 0 || len(s.missing) != 4 {
		t.Errorf("no advice: %+v", s)
	}
	all := []controlplane.Recommendation{
		rec(cost.KindCreateIndex, hot, index),
		rec(cost.KindDropIndex, hot, `{"index": "orders_note_idx", "tenants": [{"tenant_id": "bench-00001", "idx_scan": 0}]}`),
		rec(cost.KindDropIndex, plan.ids, `{"indexes": [{"name": "orders_ref_dup_idx", "covered_by": "orders_ref_idx"}]}`),
		rec(cost.KindMoveToDedicated, []string{plan.dominant}, `{"share": 0.45}`),
	}
	if s := scoreCost(plan, 100, all); s.found != 4 || len(s.falses) != 0 || len(s.missing) != 0 {
		t.Errorf("every problem advised: %+v", s)
	}
	// The analyzer measures at most maxTenants per statement.
	if s := scoreCost(plan, 5, []controlplane.Recommendation{rec(cost.KindCreateIndex, hot[:5], index)}); s.found != 1 {
		t.Errorf("5 of 18 named with a cap of 5: %+v", s)
	}
	if s := scoreCost(plan, 100, []controlplane.Recommendation{rec(cost.KindCreateIndex, hot[:5], index)}); s.found != 0 || len(s.falses) != 0 {
		t.Errorf("5 of 18 named without a cap: %+v, want not found and not false", s)
	}

	for _, c := range []struct {
		name string
		rec  controlplane.Recommendation
	}{
		{"index on another column", rec(cost.KindCreateIndex, hot, `{"table": "orders", "columns": ["ref"]}`)},
		{"index naming a tenant without the query", rec(cost.KindCreateIndex, append(slices.Clone(hot), "bench-00009"), index)},
		{"drop of the primary key", rec(cost.KindDropIndex, hot, `{"index": "orders_pkey"}`)},
		{"drop naming no planted index", rec(cost.KindDropIndex, hot, `{"index": "elsewhere_idx"}`)},
		{"another tenant for dedicated", rec(cost.KindMoveToDedicated, []string{"bench-00001"}, `{}`)},
		{"the dominant one among others", rec(cost.KindMoveToDedicated, []string{plan.dominant, "bench-00001"}, `{}`)},
		{"a kind not planted", rec(cost.KindAddReplica, nil, `{}`)},
	} {
		if s := scoreCost(plan, 100, []controlplane.Recommendation{c.rec}); len(s.falses) != 1 || s.found != 0 {
			t.Errorf("%s: %+v, want one false recommendation", c.name, s)
		}
	}
}
