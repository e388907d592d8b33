package cost_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdsfake"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Applying replica recommendations on RDS, through the real aws-sdk-go-v2
// client against the local RDS endpoint: add_replica sends
// CreateDBInstanceReadReplica and stays open while the replica is
// creating, a second apply records it ready with its endpoint;
// remove_replica deletes it (no final snapshot) and drops its catalog
// entry. Evidence naming another provider's instance is refused.
func TestApplyReplicaOnRDS(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := rdsfake.New()
	t.Cleanup(srv.Close)
	prov, err := rds.New(ctx, rds.Config{AWS: awsclient.Settings{Region: "us-east-1", Endpoint: srv.URL(), AccessKeyID: "AKIDTEST",
		SecretAccessKey: "secret-test", RetryMaxAttempts: 1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Put(rdsfake.Instance{Identifier: "tf-rds-1", Engine: "postgres", Status: "available", Class: "db.m6g.large", Port: 5432,
		Tags: map[string]string{provider.TagFleet: "tf", provider.TagInstanceID: "rds-1"}})
	_, cp := cptest.Database(t)
	store := controlplane.NewStore(cp)
	for _, i := range []controlplane.Instance{
		{Instance: provider.Instance{ID: "rds-1", ProviderRef: "tf-rds-1", Status: provider.StatusReady, Database: "postgres"}, Provider: "rds", Tier: tenants.Shared},
		{Instance: provider.Instance{ID: "loc-1", ProviderRef: "tf_inst_loc_1", Status: provider.StatusReady, Database: "tf_inst_loc_1"}, Provider: "local", Tier: tenants.Shared},
	} {
		if _, err := store.CreateInstance(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(kind, key string, ev cost.ReplicaEvidence) controlplane.Recommendation {
		raw, _ := json.Marshal(ev)
		r, err := store.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: kind, Key: key, Tenants: []string{}, Evidence: raw})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	applier := cost.Applier{Store: store, Provider: prov}

	wrong := rec(cost.KindAddReplica, "loc-1", cost.ReplicaEvidence{InstanceID: "loc-1", ReplicaID: "loc-1-r1"})
	if _, err := applier.Apply(ctx, wrong.ID, "test"); !errors.Is(err, cost.ErrNotApplicable) {
		t.Fatalf("a local instance's replica through RDS: got %v, want ErrNotApplicable", err)
	}
	forged := rec(cost.KindAddReplica, "forged", cost.ReplicaEvidence{InstanceID: "rds-1", ReplicaID: "x; DROP"})
	if _, err := applier.Apply(ctx, forged.ID, "test"); !errors.Is(err, cost.ErrNotApplicable) {
		t.Fatalf("evidence with a bad replica id: got %v, want ErrNotApplicable", err)
	}

	add := rec(cost.KindAddReplica, "rds-1", cost.ReplicaEvidence{InstanceID: "rds-1", ReplicaID: "rds-1-r1"})
	got, err := applier.Apply(ctx, add.ID, "test")
	if err != nil || got.Replica.Status != provider.StatusCreating || got.Replica.Applied {
		t.Fatalf("apply while creating = %+v, %v", got.Replica, err)
	}
	reqs := srv.Requests("CreateDBInstanceReadReplica")
	if len(reqs) != 1 || reqs[0].Get("SourceDBInstanceIdentifier") != "tf-rds-1" || reqs[0].Get("DBInstanceIdentifier") != "tf-rds-1-r1" {
		t.Fatalf("CreateDBInstanceReadReplica requests = %+v", reqs)
	}
	if r, _ := store.GetRecommendation(ctx, add.ID); r.Status != controlplane.RecommendationOpen || !strings.Contains(r.StatusReason, "creating") {
		t.Fatalf("recommendation while creating = %s %q", r.Status, r.StatusReason)
	}
	srv.SetStatus("tf-rds-1-r1", "available")
	got, err = applier.Apply(ctx, add.ID, "test")
	if err != nil || got.Replica.Status != provider.StatusReady || !got.Replica.Applied {
		t.Fatalf("apply once available = %+v, %v", got.Replica, err)
	}
	rep, err := store.GetReplica(ctx, "rds-1-r1")
	if err != nil || rep.ProviderRef != "tf-rds-1-r1" || rep.Host == "" || rep.Port == 0 || rep.Status != provider.StatusReady {
		t.Fatalf("catalog replica = %+v, %v", rep, err)
	}

	rm := rec(cost.KindRemoveReplica, "rds-1-r1", cost.ReplicaEvidence{InstanceID: "rds-1", ReplicaID: "rds-1-r1"})
	got, err = applier.Apply(ctx, rm.ID, "test")
	if err != nil || !got.Replica.Applied {
		t.Fatalf("apply remove_replica = %+v, %v", got.Replica, err)
	}
	dels := srv.Requests("DeleteDBInstance")
	if len(dels) != 1 || dels[0].Get("DBInstanceIdentifier") != "tf-rds-1-r1" || dels[0].Get("SkipFinalSnapshot") != "true" {
		t.Fatalf("DeleteDBInstance requests = %+v", dels)
	}
	if _, err := store.GetReplica(ctx, "rds-1-r1"); !errors.Is(err, controlplane.ErrReplicaNotFound) {
		t.Fatalf("catalog replica after remove: %v", err)
	}
}
