package cost_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// A tenant whose work queued in a shared pool has its pool waits in the
// cost view, from the statistics its process published to Redis; a tenant
// without published figures has none; forged statistics (a process name
// that is not its key's, a stale snapshot, impossible figures) are
// refused as a whole and add nothing.
func TestPoolWaitsFromPublishedStats(t *testing.T) {
	t.Parallel()
	_, rdb := cptest.RedisDB(t)
	e := setup(t, nil, cost.Config{Redis: rdb})
	ts := e.addInstance(t, "w", 2, 10)
	waiter, other := ts[0], ts[1]
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: storeResolver{e.store}, Fleet: e.fleet, PoolSize: 1,
		AcquireTimeout: 30 * time.Second, Redis: rdb, ProcessID: "app-1", Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pools.Stop()
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				err := pools.WithTenant(ctx, waiter.ID, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `SELECT pg_sleep(0.02)`)
					return err
				})
				if err != nil {
					t.Errorf("work of %s: %v", waiter.ID, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := pools.PublishStats(ctx); err != nil {
		t.Fatal(err)
	}
	forge := func(key string, ps tenants.ProcessStats) {
		raw, err := json.Marshal(ps)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, tenants.StatsKey(e.fleet, key), raw, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	huge := map[string]tenants.TenantStats{other.ID: {AcquireWait: tenants.HistogramSnapshot{Count: 1000, Sum: 999}}}
	pool := tenants.PoolStats{Pool: "instance:w", Size: 4, Tenants: huge}
	forge("liar", tenants.ProcessStats{Process: "app-1", At: time.Now(), Pools: []tenants.PoolStats{pool}})
	forge("stale", tenants.ProcessStats{Process: "stale", At: time.Now().Add(-time.Hour), Pools: []tenants.PoolStats{pool}})
	bad := pool
	bad.Tenants = map[string]tenants.TenantStats{other.ID: {AcquireWait: tenants.HistogramSnapshot{Count: 1, Sum: -5}}}
	forge("negative", tenants.ProcessStats{Process: "negative", At: time.Now(), Pools: []tenants.PoolStats{bad}})

	res := e.analyze(t)
	w := usageOf(t, res.Report, waiter.ID).PoolWaits
	if w == nil || w.Acquires < 12 || !(w.WaitSeconds > 0) || !(w.MeanWaitMS > 0) || w.Processes != 1 {
		t.Fatalf("pool waits of %s: %+v, want 12 timed admissions with some wait from one process", waiter.ID, w)
	}
	t.Logf("pool waits of %s: %d admissions, %.3f s waited, mean %.2f ms", waiter.ID, w.Acquires, w.WaitSeconds, w.MeanWaitMS)
	if o := usageOf(t, res.Report, other.ID).PoolWaits; o != nil {
		t.Errorf("pool waits of %s: %+v, want none (only forged figures name it)", other.ID, o)
	}
	if ps := res.Report.PoolStats; ps == nil || ps.Processes != 1 || ps.Refused != 3 || ps.Error != "" {
		t.Errorf("pool stats %+v, want 1 process read and 3 refused", ps)
	}
	// The stored report, what `fleet cost report` and GET /api/v1/cost
	// show, carries them.
	stored, err := e.store.LatestCostReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rep cost.Report
	if err := json.Unmarshal(stored.Report, &rep); err != nil {
		t.Fatal(err)
	}
	if got := usageOf(t, rep, waiter.ID).PoolWaits; got == nil || got.Acquires != w.Acquires {
		t.Errorf("stored pool waits %+v, want %+v", got, w)
	}
}
