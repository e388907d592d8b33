package controlplane_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestReplicasCRUD(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	for name, bad := range map[string]controlplane.Replica{
		"no id":          {InstanceID: "shared-1"},
		"bad id":         {ID: "R1; drop table", InstanceID: "shared-1"},
		"bad instance":   {ID: "shared-1-r1", InstanceID: "Shared 1"},
		"same as source": {ID: "shared-1", InstanceID: "shared-1"},
		"write role":     {ID: "shared-1-r1", InstanceID: "shared-1", Role: "write"},
		"bad status":     {ID: "shared-1-r1", InstanceID: "shared-1", Status: "melting"},
		"bad port":       {ID: "shared-1-r1", InstanceID: "shared-1", Port: 70000},
	} {
		if _, err := s.CreateReplica(ctx, bad); !errors.Is(err, tenants.ErrInvalidValue) {
			t.Errorf("%s: got %v, want ErrInvalidValue", name, err)
		}
	}
	if _, err := s.CreateReplica(ctx, controlplane.Replica{ID: "none-r1", InstanceID: "none"}); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Fatalf("replica of a missing instance: got %v, want ErrInstanceNotFound", err)
	}
	r, err := s.CreateReplica(ctx, controlplane.Replica{ID: "shared-1-r1", InstanceID: "shared-1", ProviderRef: "tf-shared-1-r1"})
	if err != nil || r.Status != provider.StatusCreating || r.Role != controlplane.ReplicaRoleRead || r.LagSeconds != nil || r.CreatedAt.IsZero() {
		t.Fatalf("CreateReplica = %+v, %v; want creating, role read, no lag yet", r, err)
	}
	if _, err := s.CreateReplica(ctx, controlplane.Replica{ID: "shared-1-r1", InstanceID: "shared-1"}); !errors.Is(err, controlplane.ErrReplicaExists) {
		t.Fatalf("duplicate: got %v, want ErrReplicaExists", err)
	}
	if routes, err := s.ReplicaRoutes(ctx, "shared-1"); err != nil || len(routes) != 0 {
		t.Fatalf("routes of a creating replica = %v, %v; want none", routes, err)
	}
	r, err = s.UpdateReplica(ctx, "shared-1-r1", provider.Instance{Status: provider.StatusReady, Host: "10.0.0.9", Port: 5433})
	if err != nil || r.Status != provider.StatusReady || r.Host != "10.0.0.9" || r.Port != 5433 || r.ProviderRef != "tf-shared-1-r1" {
		t.Fatalf("UpdateReplica = %+v, %v", r, err)
	}
	if _, err := s.UpdateReplica(ctx, "shared-1-r9", provider.Instance{Status: provider.StatusReady}); !errors.Is(err, controlplane.ErrReplicaNotFound) {
		t.Fatalf("update missing: got %v", err)
	}
	if _, err := s.UpdateReplica(ctx, "shared-1-r1", provider.Instance{Status: "melting"}); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("update bad status: got %v", err)
	}
	routes, err := s.ReplicaRoutes(ctx, "shared-1")
	if err != nil || len(routes) != 1 || routes[0] != (tenants.ReplicaRoute{ID: "shared-1-r1", InstanceID: "shared-1", Host: "10.0.0.9", Port: 5433}) {
		t.Fatalf("ReplicaRoutes = %+v, %v", routes, err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.RecordReplicaLag(ctx, "shared-1-r1", 1500*time.Millisecond, "", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReplicaReads(ctx, "shared-1-r1", 42, at); err != nil {
		t.Fatal(err)
	}
	r, err = s.GetReplica(ctx, "shared-1-r1")
	if err != nil || r.LagSeconds == nil || *r.LagSeconds != 1.5 || !r.LagCheckedAt.Equal(at) || r.ReadCalls == nil || *r.ReadCalls != 42 {
		t.Fatalf("GetReplica = %+v, %v; want lag 1.5s and 42 reads", r, err)
	}
	if err := s.RecordReplicaLag(ctx, "shared-1-r1", 0, "connection refused", at); err != nil {
		t.Fatal(err)
	}
	if r, _ = s.GetReplica(ctx, "shared-1-r1"); r.LagSeconds != nil || r.LagError != "connection refused" {
		t.Fatalf("unread lag = %+v", r)
	}
	if _, err := s.GetReplica(ctx, "../etc"); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("GetReplica bad id: got %v", err)
	}
	if list, err := s.ListReplicas(ctx, ""); err != nil || len(list) != 1 {
		t.Fatalf("ListReplicas = %v, %v", list, err)
	}
	if err := s.DeleteReplica(ctx, "shared-1-r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReplica(ctx, "shared-1-r1"); !errors.Is(err, controlplane.ErrReplicaNotFound) {
		t.Fatalf("delete twice: got %v", err)
	}
	if _, err := s.GetReplica(ctx, "shared-1-r1"); !errors.Is(err, controlplane.ErrReplicaNotFound) {
		t.Fatalf("get deleted: got %v", err)
	}
}
