package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestReclaimDedicatedTenant(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.LockTenant(ctx, "nobody"); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	addTenant(t, s, "big-bank", tenants.Dedicated, "", tenants.TenantOffboarded)
	if _, err := s.RequestInstance(ctx, controlplane.InstanceRequest{ID: "big-bank", Provider: "local", Tier: tenants.Dedicated, MaxTenants: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PlaceOnOwnInstance(ctx, "big-bank"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceStatus(ctx, "big-bank", provider.StatusDeleted, "dropped"); err != nil {
		t.Fatal(err)
	}
	err := s.Tx(ctx, func(tx *controlplane.Store) error {
		locked, err := tx.LockTenant(ctx, "big-bank")
		if err != nil || locked.Status != tenants.TenantOffboarded {
			t.Errorf("locked: got %+v, %v", locked, err)
		}
		if err := tx.ForgetDeletedInstance(ctx, "big-bank"); err != nil {
			return err
		}
		return tx.ReclaimTenant(ctx, "big-bank", controlplane.Reclaim{Name: "Big Bank II", Tier: tenants.Dedicated})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTenant(ctx, "big-bank")
	if err != nil || got.Status != tenants.TenantProvisioning || got.Name != "Big Bank II" || got.InstanceID != "" || got.RouteVersion != 3 {
		t.Fatalf("got %+v, %v; want provisioning, renamed, unplaced, at route version 3", got, err)
	}
	if _, err := s.GetInstance(ctx, "big-bank"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Fatalf("got %v, want the deleted instance's row gone", err)
	}
	if err := s.ReclaimTenant(ctx, "big-bank", controlplane.Reclaim{Name: "Big\u202eBank", Tier: tenants.Dedicated}); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("hidden characters: got %v, want ErrInvalidValue", err)
	}
}

func TestForgetDeletedInstanceKeepsALiveOne(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	addTenant(t, s, "big-bank", tenants.Dedicated, "", tenants.TenantOffboarded)
	if _, err := s.RequestInstance(ctx, controlplane.InstanceRequest{ID: "big-bank", Provider: "local", Tier: tenants.Dedicated, MaxTenants: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetDeletedInstance(ctx, "big-bank"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInstance(ctx, "big-bank"); err != nil {
		t.Fatalf("got %v, want the instance that is not deleted kept", err)
	}
}

func TestSetTenantReason(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	addTenant(t, s, "leaving", tenants.Shared, "", tenants.TenantOffboarding)
	addTenant(t, s, "staying", tenants.Shared, "", tenants.TenantActive)
	for _, id := range []string{"leaving", "staying"} {
		if err := s.SetTenantReason(ctx, id, tenants.TenantOffboarding, "archive failed: disk"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.GetTenant(ctx, "leaving"); got.StatusReason != "archive failed: disk" || got.RouteVersion != 1 {
		t.Errorf("leaving: got %+v; want the note, route version unchanged", got)
	}
	if got, _ := s.GetTenant(ctx, "staying"); got.StatusReason != "" {
		t.Errorf("staying: got reason %q; want none (not offboarding)", got.StatusReason)
	}
}

func TestTenantReadsAndImport(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	seed := []controlplane.Tenant{
		{ID: "bench-1", Name: "bench-1", Tier: tenants.Shared, Status: tenants.TenantActive, InstanceID: "shared-1", Database: "data", Schema: "t_bench_1", Role: "r1"},
		{ID: "bench-2", Name: "bench-2", Tier: tenants.Shared, Status: tenants.TenantActive, InstanceID: "shared-1", Database: "data", Schema: "t_bench_2", Role: "r2"},
		{ID: "bench-3", Name: "bench-3", Tier: tenants.Shared, Status: tenants.TenantPending},
	}
	if err := s.ImportTenants(ctx, seed); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTenant(ctx, "bench-2"); err != nil || got.InstanceID != "shared-1" || got.Schema != "t_bench_2" || got.RouteVersion != 1 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := s.GetTenant(ctx, "bench-3"); err != nil || got.InstanceID != "" {
		t.Fatalf("got %+v, %v; want unplaced", got, err)
	}
	ids, err := s.TenantIDs(ctx, tenants.TenantActive)
	if err != nil || len(ids) != 2 {
		t.Fatalf("got %v, %v; want the 2 active tenants", ids, err)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil || counts[tenants.TenantActive] != 2 || counts[tenants.TenantPending] != 1 || len(counts) != 2 {
		t.Fatalf("got %v, %v", counts, err)
	}

	// Refused before any SQL, or all or nothing in a transaction.
	bad := []controlplane.Tenant{{ID: "ok-1", Name: "ok", Tier: tenants.Shared, Status: tenants.TenantActive}, {ID: "x", Name: "x", Tier: tenants.Shared, Status: tenants.TenantActive}}
	if err := s.ImportTenants(ctx, bad); !errors.Is(err, tenants.ErrInvalidID) {
		t.Fatalf("bad id: got %v, want ErrInvalidID", err)
	}
	dup := []controlplane.Tenant{{ID: "new-1", Name: "new", Tier: tenants.Shared, Status: tenants.TenantActive}, seed[0]}
	err = s.Tx(ctx, func(tx *controlplane.Store) error { return tx.ImportTenants(ctx, dup) })
	if !errors.Is(err, controlplane.ErrTenantExists) {
		t.Fatalf("duplicate: got %v, want ErrTenantExists", err)
	}
	for _, id := range []string{"ok-1", "new-1"} {
		if _, err := s.GetTenant(ctx, id); !errors.Is(err, tenants.ErrTenantNotFound) {
			t.Errorf("%s: got %v, want nothing imported", id, err)
		}
	}
}
