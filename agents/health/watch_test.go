package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// The case study: a shared pool of 20, 18 tenants with 4 batch workers
// each. The watch raises exactly one pool_exhausted for the pool while the
// load runs, and resolves it once the load stops.
func TestWatchCaseStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("provisions 18 tenants")
	}
	e := setup(t, setupOpts{tenants: 18, poolSize: 20, cfg: func(c *Config) { c.PoolExhaustedAfter = 2 * time.Second },
		pools: func(pc *tenants.PoolsConfig) { pc.AcquireTimeout = 30 * time.Second }})
	subject := "instance:" + e.inst.ID
	ctx, stop := context.WithCancel(tenants.WithPriority(testContext(t), tenants.Batch))
	var wg sync.WaitGroup
	for _, id := range e.tenants {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := e.pools.Exec(ctx, id, "SELECT pg_sleep(0.05)"); err != nil && ctx.Err() == nil {
						t.Errorf("batch work of %s: %v", id, err)
						return
					}
				}
			}()
		}
	}
	watch := func() WatchReport {
		rep, err := e.agent.Watch(testContext(t))
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		return rep
	}
	var rep WatchReport
	err := eventually(60*time.Second, func() bool {
		rep = watch()
		return len(rep.Exhausted) > 0
	})
	if err != nil {
		stop()
		wg.Wait()
		t.Fatalf("no exhaustion seen: %+v", rep)
	}
	for range 3 { // still exhausted: no second alert
		time.Sleep(time.Second)
		watch()
	}
	stop()
	wg.Wait()
	if err := eventually(60*time.Second, func() bool { return len(watch().Exhausted) == 0 }); err != nil {
		t.Fatal("exhaustion never cleared")
	}
	list := e.alertsOf(t, alerts.PoolExhausted, subject)
	if len(list) != 1 || list[0].Status != alerts.StatusResolved || list[0].Instance != e.inst.ID {
		t.Fatalf("pool_exhausted alerts = %+v, want exactly one, resolved", list)
	}
	all, _ := e.engine.List(testContext(t), alerts.ListFilter{Kind: string(alerts.PoolExhausted), Limit: 1000})
	if len(all) != 1 {
		t.Fatalf("pool_exhausted alerts on any subject = %d, want 1: %+v", len(all), all)
	}
}

// publish writes a process's statistics as a (possibly hostile) process
// would.
func (e *env) publish(t *testing.T, process string, v any) {
	t.Helper()
	raw, ok := v.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rdb.Set(testContext(t), tenants.StatsKey(e.fleet, process), raw, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// Statistics anyone with Redis access could write are validated: garbage,
// impossible figures, a process name that is not its key, a stale
// snapshot and an invalid pool name are refused, and raise nothing.
func TestWatchRefusesInvalidStats(t *testing.T) {
	e := setup(t, setupOpts{})
	now := time.Now().UTC()
	pool := func(mut func(*tenants.PoolStats)) tenants.PoolStats {
		p := tenants.PoolStats{Pool: "instance:inst-a", Size: 4, InFlight: 4, Waiting: 9, Exhausted: 99}
		mut(&p)
		return p
	}
	e.publish(t, "garbage", []byte("{not json"))
	e.publish(t, "over", tenants.ProcessStats{Process: "over", At: now, Pools: []tenants.PoolStats{pool(func(p *tenants.PoolStats) { p.InFlight = 5 })}})
	e.publish(t, "liar", tenants.ProcessStats{Process: "someone-else", At: now, Pools: []tenants.PoolStats{pool(func(*tenants.PoolStats) {})}})
	e.publish(t, "stale", tenants.ProcessStats{Process: "stale", At: now.Add(-time.Hour), Pools: []tenants.PoolStats{pool(func(*tenants.PoolStats) {})}})
	e.publish(t, "name", tenants.ProcessStats{Process: "name", At: now, Pools: []tenants.PoolStats{pool(func(p *tenants.PoolStats) { p.Pool = "instance:x y\n" })}})
	e.publish(t, "tenant", tenants.ProcessStats{Process: "tenant", At: now, Pools: []tenants.PoolStats{pool(func(p *tenants.PoolStats) {
		p.Tenants = map[string]tenants.TenantStats{"Not A Tenant": {}}
	})}})
	rep, err := e.agent.Watch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 6 || len(rep.Exhausted) != 0 {
		t.Fatalf("report = %+v, want 6 rejected and nothing exhausted", rep)
	}
	if all, _ := e.engine.List(testContext(t), alerts.ListFilter{Kind: string(alerts.PoolExhausted)}); len(all) != 0 {
		t.Fatalf("alerts = %+v", all)
	}
}

// A pool whose callers wait through a whole pass while nothing is granted
// is wedged: the watch raises pool_exhausted and sends its instance a
// drain, which a started Pools obeys. Acquire timeouts alone raise it too,
// and a tenant sitting at its cap with waiters gets its own alert.
func TestWatchWedgedPoolIsDrained(t *testing.T) {
	e := setup(t, setupOpts{})
	sub := e.rdb.Subscribe(testContext(t), tenants.DrainChannel(e.fleet))
	defer sub.Close()
	if _, err := sub.Receive(testContext(t)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-2 * time.Second)
	snap := func(at time.Time, exhausted uint64) tenants.ProcessStats {
		return tenants.ProcessStats{Process: "app-1", At: at, Pools: []tenants.PoolStats{
			{Pool: "instance:inst-a", Size: 4, InFlight: 2, Waiting: 3, Exhausted: exhausted, TenantCap: 2,
				AcquireWait: tenants.HistogramSnapshot{Count: 7},
				Tenants:     map[string]tenants.TenantStats{"tenant-x": {InFlight: 2, Waiting: 3}}},
		}}
	}
	e.publish(t, "app-1", snap(at, 0))
	if rep, err := e.agent.Watch(testContext(t)); err != nil || len(rep.Exhausted) != 0 {
		t.Fatalf("first pass = %+v, %v: nothing to compare yet", rep, err)
	}
	e.publish(t, "app-1", snap(at.Add(6*time.Second), 2))
	rep, err := e.agent.Watch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pools) != 1 || !rep.Pools[0].Wedged || rep.Pools[0].Timeouts != 2 || fmt.Sprint(rep.Drained) != "[inst-a]" {
		t.Fatalf("report = %+v", rep)
	}
	if fmt.Sprint(rep.Exhausted) != "[instance:inst-a instance:inst-a/tenant-x]" {
		t.Fatalf("exhausted = %v", rep.Exhausted)
	}
	msg, err := sub.ReceiveMessage(testContext(t))
	if err != nil || msg.Payload != "inst-a" {
		t.Fatalf("drain message = %+v, %v", msg, err)
	}
	// The process is gone (its key expired): both alerts resolve.
	if err := e.rdb.Del(testContext(t), tenants.StatsKey(e.fleet, "app-1")).Err(); err != nil {
		t.Fatal(err)
	}
	if rep, err = e.agent.Watch(testContext(t)); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for _, s := range []string{"instance:inst-a", "instance:inst-a/tenant-x"} {
		if a := e.alertsOf(t, alerts.PoolExhausted, s); len(a) != 1 || a[0].Status != alerts.StatusResolved {
			t.Fatalf("alerts of %s = %+v, want one resolved", s, a)
		}
	}
}
