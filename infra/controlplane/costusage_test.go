package controlplane_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// The index and table reading of an instance is replaced whole by the
// next one, and none is ok=false.
func TestUsageSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, db := cptest.Database(t)
	s := controlplane.NewStore(db)
	if _, _, _, ok, err := s.LastUsageSnapshot(ctx, "i1"); err != nil || ok {
		t.Fatalf("before any: ok %v, %v", ok, err)
	}
	reset := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := controlplane.UsageSnapshot{InstanceID: "i1", TakenAt: reset.Add(time.Hour), StatsReset: &reset}
	idx := []controlplane.IndexCounter{{Schema: "t_a", Index: "orders_pkey", OID: 10, IdxScan: 7}, {Schema: "t_b", Index: "x", OID: 11}}
	tabs := []controlplane.TableCounter{{Schema: "t_a", Table: "orders", Inserted: 1, Updated: 2, Deleted: 3, HOTUpdated: 4, SeqScan: 5, IdxScan: 6}}
	if err := s.SaveUsageSnapshot(ctx, snap, idx, tabs); err != nil {
		t.Fatal(err)
	}
	got, gotIdx, gotTabs, ok, err := s.LastUsageSnapshot(ctx, "i1")
	if err != nil || !ok || !got.TakenAt.Equal(snap.TakenAt) || got.StatsReset == nil || !got.StatsReset.Equal(reset) {
		t.Fatalf("snapshot %+v ok %v %v", got, ok, err)
	}
	slices.SortFunc(gotIdx, func(a, b controlplane.IndexCounter) int { return int(a.OID - b.OID) })
	if !slices.Equal(gotIdx, idx) || !slices.Equal(gotTabs, tabs) {
		t.Errorf("counters %+v %+v, want %+v %+v", gotIdx, gotTabs, idx, tabs)
	}
	// The next reading replaces it, even with nothing in it.
	snap.TakenAt, snap.StatsReset = snap.TakenAt.Add(time.Hour), nil
	if err := s.SaveUsageSnapshot(ctx, snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, gotIdx, gotTabs, ok, err = s.LastUsageSnapshot(ctx, "i1")
	if err != nil || !ok || got.StatsReset != nil || len(gotIdx) != 0 || len(gotTabs) != 0 {
		t.Errorf("after replace: %+v %v %v ok %v %v", got, gotIdx, gotTabs, ok, err)
	}
}
