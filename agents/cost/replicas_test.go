package cost_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func recsOf(res cost.Result, kind string) []controlplane.Recommendation {
	var out []controlplane.Recommendation
	for _, r := range res.Recommendations {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// A read-mostly loaded instance gets add_replica with the replica's price,
// a write-heavy one does not; apply attaches a real streaming standby
// through the local provider and records it in the catalog; a replica the
// tenants read from gets no remove_replica, an idle one does, and apply
// removes it.
func TestReplicaAdviceAndApply(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, cost.Config{ReplicaLoad: 1e-9, IdleReplicaCalls: 5})
	reads := e.addInstance(t, "rd", 2, 2000)
	writes := e.addInstance(t, "wr", 1, 200)
	// The local provider's handle of an instance is its database.
	if _, err := e.cp.Exec(testContext(t), `UPDATE instances SET provider_ref = database_name`); err != nil {
		t.Fatal(err)
	}
	standby := e.cluster.StartReplica(t, nil)
	e.analyze(t) // baseline: the setup's own DDL
	for _, tn := range reads {
		e.runAsTenant(t, tn, 40, hotQuery, byCustomer)
		e.runAsTenant(t, tn, 2, `UPDATE orders SET note = 'y' WHERE id = $1`, int64(1))
	}
	e.runAsTenant(t, writes[0], 40, `UPDATE orders SET note = $2 WHERE id = $1`, byCustomer, "z")
	res := e.analyze(t)
	adds := recsOf(res, cost.KindAddReplica)
	if len(adds) != 1 || adds[0].Key != "rd" || len(adds[0].Tenants) != 2 {
		t.Fatalf("add_replica = %+v, want one for instance rd naming its 2 tenants", adds)
	}
	price := 0.152 * cost.HoursPerMonth // db.m6g.large, the default class
	add := adds[0]
	var ev cost.ReplicaEvidence
	if err := json.Unmarshal(add.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ReplicaID != "rd-r1" || ev.ReadShare < 0.7 || ev.Load <= 0 || math.Abs(ev.ReplicaMonthlyUSD-price) > 1e-6 ||
		math.Abs(add.MonthlySavingUSD+price) > 1e-6 || math.Abs(add.CostAfter-add.CostBefore-price) > 1e-6 {
		t.Fatalf("add_replica money and evidence = %+v %+v, want a %.2f USD replica", add, ev, price)
	}

	// Applying needs the provider.
	ctx := testContext(t)
	if _, err := (cost.Applier{Store: e.store}).Apply(ctx, add.ID, "test"); !errors.Is(err, cost.ErrNotApplicable) {
		t.Fatalf("apply without a provider: got %v, want ErrNotApplicable", err)
	}
	if _, err := cost.Apply(ctx, e.store, nil, add.ID, "test"); !errors.Is(err, cost.ErrNotApplicable) {
		t.Fatalf("index apply of a replica recommendation: got %v, want ErrNotApplicable", err)
	}
	prov, err := local.New(ctx, local.Config{AdminURL: e.cluster.URL("postgres"), Logger: cptest.DiscardLogger(),
		Standbys: []string{fmt.Sprintf("127.0.0.1:%d", standby.Port)}})
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close()
	applier := cost.Applier{Store: e.store, Provider: prov}
	got, err := applier.Apply(ctx, add.ID, "test")
	if err != nil || got.Replica == nil || !got.Replica.Applied || got.Replica.Status != provider.StatusReady || got.Replica.ReplicaID != "rd-r1" {
		t.Fatalf("apply add_replica = %+v, %v", got.Replica, err)
	}
	rep, err := e.store.GetReplica(ctx, "rd-r1")
	if err != nil || rep.InstanceID != "rd" || rep.Port != standby.Port || rep.Status != provider.StatusReady {
		t.Fatalf("catalog replica = %+v, %v", rep, err)
	}
	if r, _ := e.store.GetRecommendation(ctx, add.ID); r.Status != controlplane.RecommendationApplied {
		t.Fatalf("recommendation after apply = %s", r.Status)
	}
	if _, err := applier.Apply(ctx, add.ID, "test"); !errors.Is(err, controlplane.ErrRecommendationNotOpen) {
		t.Fatalf("apply twice: got %v", err)
	}

	// First window of the replica; then the tenants read on it: no advice.
	e.analyze(t)
	onReplica := rep.On(e.inst(t, "rd"))
	names, err := tenants.NamesFor(e.fleet, reads[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := e.sessions.Tenant(ctx, onReplica, names, 1)
	if err != nil {
		t.Fatalf("tenant session on the replica: %v", err)
	}
	for range 10 {
		rows, err := pool.Query(ctx, hotQuery, int64(7))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	pool.Close()
	if rm := recsOf(e.analyze(t), cost.KindRemoveReplica); len(rm) != 0 {
		t.Fatalf("remove_replica of a replica the tenants read from: %+v", rm)
	}
	// A window with no reads on it: remove_replica, saving its price.
	res = e.analyze(t)
	rms := recsOf(res, cost.KindRemoveReplica)
	if len(rms) != 1 || rms[0].Key != "rd-r1" || math.Abs(rms[0].MonthlySavingUSD-price) > 1e-6 {
		t.Fatalf("remove_replica = %+v, want rd-r1 saving %.2f", rms, price)
	}
	if len(recsOf(res, cost.KindAddReplica)) != 0 {
		t.Fatalf("add_replica for an instance that has a replica: %+v", recsOf(res, cost.KindAddReplica))
	}
	got, err = applier.Apply(ctx, rms[0].ID, "test")
	if err != nil || got.Replica == nil || !got.Replica.Applied || got.Replica.Status != provider.StatusDeleted {
		t.Fatalf("apply remove_replica = %+v, %v", got.Replica, err)
	}
	if _, err := e.store.GetReplica(ctx, "rd-r1"); !errors.Is(err, controlplane.ErrReplicaNotFound) {
		t.Fatalf("catalog replica after remove: %v", err)
	}
}
