package batch

import (
	"fmt"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// BenchmarkScheduleCatchUp measures a scheduler's catch-up of a whole
// window for 10,000 active tenants: listing them and enqueueing one
// batch:run each (fresh: an empty queue; duplicates: every task exists,
// as after a restart). Run:
//
//	go test -run '^$' -bench ScheduleCatchUp -benchtime 3x ./agents/batch/
func BenchmarkScheduleCatchUp(b *testing.B) {
	const n = 10000
	e := setupBench(b, n)
	ctx := b.Context()
	a, err := New(Config{Store: e.store, Queue: e.queue, Kinds: []Kind{{Name: "bench-job", Run: noop}}})
	if err != nil {
		b.Fatal(err)
	}
	kind := a.Kinds()[0]
	period := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	upTo := period.Add(kind.Timing.Window)
	b.Run("fresh", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			if err := e.rdb.FlushDB(ctx).Err(); err != nil { // the test's own leased database
				b.Fatal(err)
			}
			b.StartTimer()
			if got, err := a.enqueueDue(ctx, &kindSchedule{kind: kind}, upTo); err != nil || got != n {
				b.Fatalf("enqueued %d, %v; want %d", got, err, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/tenant")
	})
	b.Run("duplicates", func(b *testing.B) {
		for range b.N {
			if got, err := a.enqueueDue(ctx, &kindSchedule{kind: kind}, upTo); err != nil || got != 0 {
				b.Fatalf("enqueued %d, %v; want none", got, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/tenant")
	})
}

// setupBench is a control plane with n active tenants and a Redis database.
func setupBench(b *testing.B, n int) *env {
	b.Helper()
	e := &env{}
	_, cp := cptest.Database(b)
	e.store = controlplane.NewStore(cp)
	_, e.rdb = cptest.RedisDB(b)
	e.queue = queue.NewClient(e.rdb)
	b.Cleanup(func() { _ = e.queue.Close() })
	ctx := b.Context()
	err := e.store.Tx(ctx, func(tx *controlplane.Store) error {
		for i := range n {
			id := fmt.Sprintf("bench-%05d", i)
			if _, err := tx.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: tenants.TenantActive}); err != nil {
				return err
			}
			e.tenants = append(e.tenants, id)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return e
}
