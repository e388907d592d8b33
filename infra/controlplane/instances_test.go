package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestInstancesCRUD(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "shared-1"}, Provider: "local", Tier: tenants.Shared}); !errors.Is(err, controlplane.ErrInstanceExists) {
		t.Fatalf("got %v, want ErrInstanceExists", err)
	}
	for name, bad := range map[string]controlplane.Instance{
		"no id":            {Provider: "local", Tier: tenants.Shared},
		"unknown provider": {Instance: provider.Instance{ID: "x-1"}, Provider: "azure", Tier: tenants.Shared},
		"unknown tier":     {Instance: provider.Instance{ID: "x-1"}, Provider: "local", Tier: "huge"},
		"unknown status":   {Instance: provider.Instance{ID: "x-1", Status: "melting"}, Provider: "local", Tier: tenants.Shared},
	} {
		if _, err := s.CreateInstance(ctx, bad); !errors.Is(err, tenants.ErrInvalidValue) {
			t.Errorf("%s: got %v, want ErrInvalidValue", name, err)
		}
	}
	inst, err := s.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "rds-1"}, Provider: "rds", Tier: tenants.Dedicated})
	if err != nil || inst.Status != provider.StatusCreating || inst.Port != controlplane.DefaultPort ||
		inst.MaxTenants != controlplane.DefaultMaxTenants || inst.MaxConnections != controlplane.DefaultMaxConnections {
		t.Fatalf("got %+v, %v; want defaults", inst, err)
	}
	if err := s.SetInstanceStatus(ctx, "rds-1", provider.StatusFailed, "quota"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceStatus(ctx, "rds-1", "melting", ""); !errors.Is(err, tenants.ErrInvalidValue) {
		t.Fatalf("got %v, want ErrInvalidValue", err)
	}
	if err := s.SetInstanceStatus(ctx, "rds-none", provider.StatusReady, ""); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Fatalf("got %v, want ErrInstanceNotFound", err)
	}
	if _, err := s.GetInstance(ctx, "rds-none"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Fatalf("got %v, want ErrInstanceNotFound", err)
	}
	if got, err := s.GetInstance(ctx, "rds-1"); err != nil || got.Status != provider.StatusFailed || got.StatusReason != "quota" {
		t.Fatalf("got %+v, %v", got, err)
	}
	insts, err := s.ListInstances(ctx, controlplane.InstanceFilter{Tier: tenants.Dedicated})
	if err != nil || len(insts) != 1 || insts[0].ID != "rds-1" {
		t.Fatalf("list instances: got %+v, %v", insts, err)
	}
	insts, err = s.ListInstances(ctx, controlplane.InstanceFilter{Status: provider.StatusReady})
	if err != nil || len(insts) != 1 || insts[0].ID != "shared-1" {
		t.Fatalf("list ready instances: got %+v, %v", insts, err)
	}
}
