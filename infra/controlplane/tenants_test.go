package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// scratchStore returns a Store over a scratch control plane holding one
// ready shared instance, "shared-1".
func scratchStore(t *testing.T) *controlplane.Store {
	t.Helper()
	_, pool := cptest.Database(t)
	s := controlplane.NewStore(pool)
	if _, err := s.CreateInstance(testContext(t), controlplane.Instance{
		Instance: provider.Instance{ID: "shared-1", Status: provider.StatusReady, Host: "127.0.0.1", Database: "data"},
		Provider: "local", Tier: tenants.Shared,
	}); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return s
}

func TestTenantsCRUD(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "Bad", Name: "x", Tier: tenants.Shared}); !errors.Is(err, tenants.ErrInvalidID) {
		t.Fatalf("bad id: got %v, want ErrInvalidID", err)
	}
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "cat-one", Name: "x", Tier: "huge"}); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("bad tier: got %v, want ErrInvalidValue", err)
	}
	created, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "cat-one", Name: "Cat One", Tier: tenants.Shared})
	if err != nil || created.Status != tenants.TenantPending || created.RouteVersion != 1 {
		t.Fatalf("got %+v, %v; want a pending tenant at version 1", created, err)
	}
	if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "cat-one", Name: "again", Tier: tenants.Shared}); !errors.Is(err, controlplane.ErrTenantExists) {
		t.Fatalf("duplicate: got %v, want ErrTenantExists", err)
	}
	if _, err := s.GetTenant(ctx, "cat-none"); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	v, err := s.SetTenantPlacement(ctx, "cat-one", controlplane.Placement{InstanceID: "shared-1", Database: "data", Schema: "t_cat_one", Role: "x_t_cat_one"})
	if err != nil || v != 2 {
		t.Fatalf("placement: got version %d, %v; want 2", v, err)
	}
	if v, err = s.SetTenantStatus(ctx, "cat-one", tenants.TenantFailed, "disk full"); err != nil || v != 3 {
		t.Fatalf("status: got version %d, %v; want 3", v, err)
	}
	if _, err := s.SetTenantStatus(ctx, "cat-one", "gone", ""); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("bad status: got %v, want ErrInvalidValue", err)
	}
	got, err := s.GetTenant(ctx, "cat-one")
	if err != nil || got.Status != tenants.TenantFailed || got.StatusReason != "disk full" || got.InstanceID != "shared-1" || got.Schema != "t_cat_one" || got.RouteVersion != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := s.SetTenantStatus(ctx, "cat-none", tenants.TenantActive, ""); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	list, err := s.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantFailed, InstanceID: "shared-1"})
	if err != nil || len(list) != 1 || list[0].ID != "cat-one" {
		t.Fatalf("list: got %+v, %v", list, err)
	}
	counts, err := s.CountTenants(ctx)
	if err != nil || counts["shared-1"] != 1 {
		t.Fatalf("counts: got %v, %v; want 1 on shared-1", counts, err)
	}
}

// TestCreateTenantRefusesHiddenCharacters: the store is the last gate for
// every path that creates a tenant (intake, CLI, benchmarks).
func TestCreateTenantRefusesHiddenCharacters(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	for _, name := range []string{"\u202eknaB emcA", "Acme\u200bBank"} {
		if _, err := s.CreateTenant(ctx, controlplane.Tenant{ID: "spoof", Name: name, Tier: tenants.Shared}); !errors.Is(err, tenants.ErrInvalidValue) {
			t.Fatalf("name %q: got %v, want ErrInvalidValue", name, err)
		}
	}
	if _, err := s.GetTenant(ctx, "spoof"); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Fatalf("got %v, want no tenant stored", err)
	}
}
