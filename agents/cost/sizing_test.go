package cost_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// An instance busier than its class is advised a larger class, one far
// quieter than its class a cheaper one, each with the money; the busy
// dedicated tenant is not advised to share.
//
// The busy instance's load is statement time over the window: eight
// sessions of the tenant each sleeping 1.5 s inside a statement put 12 s
// of statement time in a window of a few seconds on a 1-vCPU class (a
// window longer than 16 s would be needed to fall under the 75% mark).
func TestResizeBothWays(t *testing.T) {
	t.Parallel()
	prices := cost.Prices{Classes: map[string]cost.Class{
		"test.1": {HourlyUSD: 0.1, VCPUs: 1}, "test.4": {HourlyUSD: 0.4, VCPUs: 4}, "test.16": {HourlyUSD: 1.6, VCPUs: 16},
	}, DefaultClass: "test.4", InstanceClasses: map[string]string{"busy": "test.1", "idle": "test.16"}}
	e := setup(t, nil, cost.Config{Prices: prices, MinWindow: time.Millisecond})
	busy := e.addInstanceOf(t, "busy", tenants.Dedicated, 1, 100)[0]
	idle := e.addInstance(t, "idle", 2, 100)
	e.analyze(t)

	ctx := testContext(t)
	names, err := tenants.NamesFor(e.fleet, busy.ID)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := e.sessions.Tenant(ctx, e.inst(t, "busy"), names, 8)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pool.Exec(context.WithoutCancel(ctx), `SELECT pg_sleep(1.5)`); err != nil {
				t.Errorf("busy work: %v", err)
			}
		}()
	}
	wg.Wait()
	pool.Close()
	e.runAsTenant(t, idle[0], 2, `SELECT count(*) FROM orders`)
	res := e.analyze(t)

	resizes := ofKind(res.Recommendations, cost.KindResize)
	if len(resizes) != 2 {
		t.Fatalf("resizes %+v, want one for each instance", resizes)
	}
	for _, r := range resizes {
		assertMoney(t, r)
		var ev cost.SizingEvidence
		decode(t, r, &ev)
		t.Logf("resize %s: %s (%d vCPUs) -> %s (%d vCPUs), load %.2f vCPUs in %.1f s, %d/%d connections; %.2f -> %.2f USD a month",
			r.Key, ev.Class, ev.VCPUs, ev.TargetClass, ev.TargetVCPUs, ev.LoadVCPUs, ev.WindowS, ev.Connections, ev.MaxConnections, r.CostBefore, r.CostAfter)
		if ev.WindowS <= 0 || ev.MaxConnections <= 0 || ev.Connections < 1 || ev.Reason == "" || ev.Note == "" {
			t.Errorf("%s: evidence %+v: want the window, connections and reason", r.Key, ev)
		}
		switch r.Key {
		case "busy:up":
			if ev.Direction != cost.ResizeUp || ev.Class != "test.1" || !(ev.Utilization > cost.ResizeUpLoad) ||
				ev.TargetVCPUs <= 1 || r.MonthlySavingUSD >= 0 || !slices.Equal(r.Tenants, []string{busy.ID}) {
				t.Errorf("busy: %+v evidence %+v: want up from test.1 to a larger class, costing money", r, ev)
			}
		case "idle:down":
			if ev.Direction != cost.ResizeDown || ev.Class != "test.16" || ev.TargetClass != "test.1" || !(ev.Utilization < cost.ResizeDownLoad) ||
				r.MonthlySavingUSD < (1.6-0.1)*cost.HoursPerMonth-1e-6 || len(r.Tenants) != 2 {
				t.Errorf("idle: %+v evidence %+v: want down from test.16 to test.1, saving 1.5 USD an hour", r, ev)
			}
		default:
			t.Errorf("unexpected resize %s", r.Key)
		}
	}
	if sh := ofKind(res.Recommendations, cost.KindMoveToShared); len(sh) != 0 {
		t.Errorf("the busy dedicated tenant was advised to share: %+v", sh)
	}
}
