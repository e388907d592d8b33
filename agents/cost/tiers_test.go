package cost_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// decode reads a recommendation's evidence into v.
func decode(t testing.TB, r controlplane.Recommendation, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Evidence, v); err != nil {
		t.Fatalf("evidence of %s %s: %v", r.Kind, r.Key, err)
	}
}

// assertMoney checks that a recommendation's saving is its cost before
// less its cost after.
func assertMoney(t testing.TB, r controlplane.Recommendation) {
	t.Helper()
	if math.Abs(r.MonthlySavingUSD-(r.CostBefore-r.CostAfter)) > 1e-9 || !(r.CostBefore > 0) || !(r.CostAfter > 0) {
		t.Errorf("%s %s: saving %g, before %g, after %g: want saving = before - after, both priced",
			r.Kind, r.Key, r.MonthlySavingUSD, r.CostBefore, r.CostAfter)
	}
}

// tierPrices is a small price table: the shared instances are the
// cheapest class, so a dedicated one costs more than any share of them.
func tierPrices() cost.Prices {
	return cost.Prices{Classes: map[string]cost.Class{"test.2": {HourlyUSD: 0.2, VCPUs: 2}, "test.8": {HourlyUSD: 0.8, VCPUs: 8}},
		DefaultClass: "test.2"}
}

// One tenant doing most of its shared instance's work through its own
// role is named for a dedicated instance, with the money it costs; a quiet
// dedicated tenant is named for shared, with the money it saves; the
// dominating tenant's quiet neighbours are named for nothing; apply refuses both kinds; and with the default
// minimum window (1h) a short window advises no move.
func TestTierMoves(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{Prices: tierPrices(), MinWindow: time.Millisecond})
	dominated := e.addInstance(t, "m", 4, 20000)
	quiet := e.addInstanceOf(t, "q", tenants.Dedicated, 1, 100)[0]
	dom := dominated[0]
	e.analyze(t) // the baseline: setting the tenants up ran as their roles

	const scan = `SELECT count(*) FROM orders WHERE note LIKE $1`
	e.runAsTenant(t, dom, 40, scan, "%y%")
	for _, n := range dominated[1:] {
		e.runAsTenant(t, n, 2, `SELECT id FROM orders WHERE id = $1`, int64(1))
	}
	e.runAsTenant(t, quiet, 3, `SELECT count(*) FROM orders`)
	res := e.analyze(t)

	ded := ofKind(res.Recommendations, cost.KindMoveToDedicated)
	if len(ded) != 1 || !slices.Equal(ded[0].Tenants, []string{dom.ID}) || ded[0].Key != dom.ID {
		t.Fatalf("move_to_dedicated: %+v, want one naming %s only", ded, dom.ID)
	}
	r := ded[0]
	assertMoney(t, r)
	u := usageOf(t, res.Report, dom.ID)
	if r.CostBefore != u.MonthlyUSD || !(r.MonthlySavingUSD < 0) {
		t.Errorf("move_to_dedicated: before %g (tenant's cost %g), saving %g: want its current cost and a negative saving (a dedicated instance costs more)",
			r.CostBefore, u.MonthlyUSD, r.MonthlySavingUSD)
	}
	var ev cost.TierEvidence
	decode(t, r, &ev)
	t.Logf("move_to_dedicated: share %.3f, %d calls, %.1f ms in %.1f s; %.2f -> %.2f USD a month", ev.Share, ev.Calls, ev.TimeMS, ev.WindowS,
		r.CostBefore, r.CostAfter)
	if ev.Share != u.Share || !(ev.Share > 0.3) || ev.ShareOf != cost.ShareOfInstanceTime || ev.Threshold != 0.3 || ev.InstanceID != "m" ||
		ev.Calls < 40 || !(ev.TimeMS > 0) || !(ev.WindowS > 0) || !ev.WindowEnd.After(ev.WindowStart) || ev.TargetClass != "test.2" {
		t.Errorf("move_to_dedicated evidence %+v", ev)
	}
	if !strings.Contains(ev.Note, "isolates it from its neighbours") || !strings.Contains(ev.Note, "costs") || !strings.Contains(ev.Note, "an operator moves") {
		t.Errorf("note %q: want it to say the move is about isolation, costs money, and is an operator's", ev.Note)
	}

	sh := ofKind(res.Recommendations, cost.KindMoveToShared)
	if len(sh) != 1 || !slices.Equal(sh[0].Tenants, []string{quiet.ID}) {
		t.Fatalf("move_to_shared: %+v, want one naming %s only", sh, quiet.ID)
	}
	assertMoney(t, sh[0])
	var sev cost.TierEvidence
	decode(t, sh[0], &sev)
	t.Logf("move_to_shared: capacity share %.5f; %.2f -> %.2f USD a month", sev.Share, sh[0].CostBefore, sh[0].CostAfter)
	if !(sh[0].MonthlySavingUSD > 0) || sev.ShareOf != cost.ShareOfInstanceCapacity || !(sev.Share < 0.05) || sev.Calls < 3 || sev.InstanceID != "q" ||
		sev.TargetClass != "test.2" || sev.Tier != string(tenants.Dedicated) {
		t.Errorf("move_to_shared: saving %g, evidence %+v: want a saving, the capacity share below 0.05", sh[0].MonthlySavingUSD, sev)
	}
	if res.Report.PoolStats == nil || res.Report.PoolStats.Error == "" {
		t.Errorf("pool stats %+v: want it to say nothing was read without Redis", res.Report.PoolStats)
	}

	// Apply refuses the operator's kinds (ErrNotApplicable: 422).
	for _, rec := range []controlplane.Recommendation{r, sh[0]} {
		_, err := cost.Apply(testContext(t), e.store, nil, rec.ID, "test")
		if !errors.Is(err, cost.ErrNotApplicable) || !strings.Contains(err.Error(), "an operator") {
			t.Errorf("apply %s: %v, want ErrNotApplicable saying an operator does it", rec.Kind, err)
		}
	}

	// The default minimum window: a few seconds of the same work advise no
	// move.
	strict, err := cost.New(cost.Config{Store: e.store, Sessions: e.sessions, Fleet: e.fleet, Prices: tierPrices()})
	if err != nil {
		t.Fatal(err)
	}
	e.runAsTenant(t, dom, 40, scan, "%y%")
	again, err := strict.Analyze(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range again.Recommendations {
		if rec.Kind == cost.KindMoveToDedicated || rec.Kind == cost.KindMoveToShared || rec.Kind == cost.KindResize {
			t.Errorf("a window shorter than an hour advised %s %s", rec.Kind, rec.Key)
		}
	}
}

// A balanced instance yields no move: eight tenants doing the same work
// each take about an eighth of it.
func TestBalancedInstanceYieldsNoMove(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{Prices: tierPrices(), MinWindow: time.Millisecond})
	ts := e.addInstance(t, "e", 8, 2000)
	e.analyze(t)
	for _, tn := range ts {
		e.runAsTenant(t, tn, 30, `SELECT count(*) FROM orders WHERE note LIKE $1`, "%y%")
	}
	res := e.analyze(t)
	if moves := append(ofKind(res.Recommendations, cost.KindMoveToDedicated), ofKind(res.Recommendations, cost.KindMoveToShared)...); len(moves) != 0 {
		t.Fatalf("balanced instance: %+v, want no move", moves)
	}
	for _, tn := range ts {
		u := usageOf(t, res.Report, tn.ID)
		t.Logf("balanced tenant %s: share %.3f", tn.ID, u.Share)
		if !(u.Share > 0) || !(u.Share < 0.3) {
			t.Errorf("tenant %s share %g, want a part below the threshold", tn.ID, u.Share)
		}
	}
}
