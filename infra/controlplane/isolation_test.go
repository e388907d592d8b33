package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "iso-bad", Name: "x", Tier: tenants.Shared, Isolation: "airgapped"}); !errors.Is(err, tenants.ErrInvalidIsolation) {
		t.Fatalf("bad isolation: got %v, want ErrInvalidIsolation", err)
	}
	pooled, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "iso-pooled", Name: "x", Tier: tenants.Shared})
	if err != nil || pooled.Isolation != tenants.Pooled {
		t.Fatalf("default: got %+v, %v; want pooled", pooled, err)
	}
	strict, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "iso-strict", Name: "x", Tier: tenants.Shared, Isolation: tenants.Strict})
	if err != nil || strict.Isolation != tenants.Strict {
		t.Fatalf("strict: got %+v, %v", strict, err)
	}
	if r, err := s.Route(ctx, "iso-strict"); err != nil || r.Isolation != tenants.Strict {
		t.Fatalf("route: got %+v, %v; want strict", r, err)
	}
	v, err := s.SetTenantIsolation(ctx, "iso-pooled", tenants.Strict)
	if err != nil || v != pooled.RouteVersion+1 {
		t.Fatalf("set strict: version %d, %v; want %d", v, err, pooled.RouteVersion+1)
	}
	if again, err := s.SetTenantIsolation(ctx, "iso-pooled", tenants.Strict); err != nil || again != v {
		t.Fatalf("set strict again: version %d, %v; want unchanged %d", again, err, v)
	}
	if r, err := s.Route(ctx, "iso-pooled"); err != nil || r.Isolation != tenants.Strict || r.Version != v {
		t.Fatalf("route after the change: %+v, %v", r, err)
	}
	if _, err := s.SetTenantIsolation(ctx, "iso-none", tenants.Strict); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("missing tenant: got %v, want ErrTenantNotFound", err)
	}
	if _, err := s.SetTenantIsolation(ctx, "iso-pooled", "dedicated"); !errors.Is(err, tenants.ErrInvalidIsolation) {
		t.Fatalf("bad level: got %v, want ErrInvalidIsolation", err)
	}
}
