package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// addTenant creates tenant id (tier) and places it on instanceID when
// that is not empty.
func addTenant(t *testing.T, s *controlplane.Store, id string, tier tenants.Tier, instanceID string, status tenants.TenantStatus) {
	t.Helper()
	ctx := testContext(t)
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tier, Status: status}); err != nil {
		t.Fatal(err)
	}
	if instanceID == "" {
		return
	}
	if _, err := s.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: instanceID, Database: "data", Schema: "t", Role: "r"}); err != nil {
		t.Fatal(err)
	}
}

func TestSharedPlacementReads(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	addTenant(t, s, "one", tenants.Shared, "shared-1", tenants.TenantActive)
	addTenant(t, s, "two", tenants.Shared, "shared-1", tenants.TenantActive)
	addTenant(t, s, "gone", tenants.Shared, "shared-1", tenants.TenantOffboarded)
	if _, ok, err := s.CreatingShared(ctx); err != nil || ok {
		t.Fatalf("got ok %v, %v; want no shared instance being created", ok, err)
	}
	if _, err := s.RequestInstance(ctx, controlplane.InstanceRequest{ID: "dup", Provider: "azure", Tier: tenants.Shared, MaxTenants: 5}); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("unknown provider: got %v, want ErrInvalidValue", err)
	}
	if _, err := s.RequestInstance(ctx, controlplane.InstanceRequest{ID: "shared-2", Provider: "local", Tier: tenants.Shared, MaxTenants: 7}); err != nil {
		t.Fatal(err)
	}
	id, ok, err := s.CreatingShared(ctx)
	if err != nil || !ok || id != "shared-2" {
		t.Fatalf("got %q, %v, %v; want shared-2 being created", id, ok, err)
	}
	if n, err := s.CountShared(ctx); err != nil || n != 2 {
		t.Fatalf("got %d, %v; want 2 shared instances", n, err)
	}
	var loads []controlplane.SharedLoad
	err = s.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		loads, err = tx.LockSharedLoads(ctx)
		return err
	})
	want := controlplane.SharedLoad{ID: "shared-1", Database: "data", MaxTenants: controlplane.DefaultMaxTenants,
		MaxConnections: controlplane.DefaultMaxConnections, Tenants: 2}
	if err != nil || len(loads) != 1 || loads[0] != want {
		t.Fatalf("got %+v, %v; want only the ready shared-1 with its 2 live tenants", loads, err)
	}
}

func TestRequestInstanceOnce(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	req := controlplane.InstanceRequest{ID: "big-bank", Provider: "rds", Tier: tenants.Dedicated, MaxTenants: 1}
	if inserted, err := s.RequestInstance(ctx, req); err != nil || !inserted {
		t.Fatalf("first: got %v, %v; want inserted", inserted, err)
	}
	if inserted, err := s.RequestInstance(ctx, req); err != nil || inserted {
		t.Fatalf("second: got %v, %v; want the row found", inserted, err)
	}
	inst, err := s.GetInstance(ctx, "big-bank")
	if err != nil || inst.Status != provider.StatusCreating || inst.Tier != tenants.Dedicated || inst.MaxTenants != 1 || inst.Provider != "rds" {
		t.Fatalf("got %+v, %v", inst, err)
	}
}

func TestPlaceOnOwnInstance(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	addTenant(t, s, "big-bank", tenants.Dedicated, "", tenants.TenantProvisioning)
	if _, err := s.RequestInstance(ctx, controlplane.InstanceRequest{ID: "big-bank", Provider: "local", Tier: tenants.Dedicated, MaxTenants: 1}); err != nil {
		t.Fatal(err)
	}
	if placed, err := s.PlaceOnOwnInstance(ctx, "big-bank"); err != nil || !placed {
		t.Fatalf("got %v, %v; want placed", placed, err)
	}
	if placed, err := s.PlaceOnOwnInstance(ctx, "big-bank"); err != nil || placed {
		t.Fatalf("again: got %v, %v; want left as it is", placed, err)
	}
	got, err := s.GetTenant(ctx, "big-bank")
	if err != nil || got.InstanceID != "big-bank" || got.RouteVersion != 2 {
		t.Fatalf("got %+v, %v; want on its own instance at route version 2", got, err)
	}
}

func TestInstanceEndpointAndPreparation(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.InstancePrepared(ctx, "none"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Fatalf("got %v, want ErrInstanceNotFound", err)
	}
	if prepared, err := s.InstancePrepared(ctx, "shared-1"); err != nil || prepared {
		t.Fatalf("got %v, %v; want not prepared", prepared, err)
	}
	for range 2 {
		if err := s.MarkInstancePrepared(ctx, "shared-1"); err != nil {
			t.Fatal(err)
		}
	}
	if prepared, err := s.InstancePrepared(ctx, "shared-1"); err != nil || !prepared {
		t.Fatalf("got %v, %v; want prepared", prepared, err)
	}
	if err := s.SetInstanceEndpoint(ctx, "shared-1", provider.Instance{Host: "db.internal", ProviderRef: "ref-1", StorageBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInstance(ctx, "shared-1")
	if err != nil || got.Host != "db.internal" || got.ProviderRef != "ref-1" || got.StorageBytes != 1<<30 ||
		got.Database != "data" || got.Port != controlplane.DefaultPort || got.MaxConnections != controlplane.DefaultMaxConnections {
		t.Fatalf("got %+v, %v; want the reported fields set and the others kept", got, err)
	}
}
