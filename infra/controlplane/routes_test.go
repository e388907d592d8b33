package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.Route(ctx, "nobody"); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "acme", Name: "Acme", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	unplaced, err := s.Route(ctx, "acme")
	if err != nil || unplaced.Status != tenants.TenantPending || unplaced.InstanceID != "" || unplaced.Host != "" || unplaced.Version != 1 {
		t.Fatalf("unplaced: got %+v, %v", unplaced, err)
	}
	if _, err := s.SetTenantPlacement(ctx, "acme", controlplane.Placement{InstanceID: "shared-1", Database: "data", Schema: "t_acme", Role: "f_t_acme"}); err != nil {
		t.Fatal(err)
	}
	want := tenants.Route{TenantID: "acme", Tier: tenants.Shared, Status: tenants.TenantPending, InstanceID: "shared-1",
		Host: "127.0.0.1", Port: controlplane.DefaultPort, Database: "data", Schema: "t_acme", Role: "f_t_acme", Isolation: tenants.Pooled, Version: 2}
	if got, err := s.Route(ctx, "acme"); err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
}

func TestRouteKey(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	key, err := s.RouteKey(ctx)
	if err != nil || len(key) < tenants.MinRouteKeyLen {
		t.Fatalf("got a key of %d bytes, %v; want at least %d", len(key), err, tenants.MinRouteKeyLen)
	}
	again, err := s.RouteKey(ctx)
	if err != nil || string(again) != string(key) {
		t.Fatalf("a second read gave another key (%v)", err)
	}
}
