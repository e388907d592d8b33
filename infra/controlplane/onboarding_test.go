package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestOnboardingRecord(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.GetOnboarding(ctx, "acme"); !errors.Is(err, controlplane.ErrNoOnboarding) {
		t.Fatalf("got %v, want ErrNoOnboarding", err)
	}
	addTenant(t, s, "acme", tenants.Shared, "", tenants.TenantProvisioning)
	if err := s.StartOnboarding(ctx, "acme", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOnboardingError(ctx, "acme", "instance not ready"); err != nil {
		t.Fatal(err)
	}
	if err := s.StartOnboarding(ctx, "acme", 8); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOnboarding(ctx, "acme")
	if err != nil || got.RequestID != 8 || got.Attempts != 2 || got.LastError != "instance not ready" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := s.SetOnboardingStep(ctx, "acme", "place"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetOnboarding(ctx, "acme"); got.Step != "place" || got.LastError != "" {
		t.Fatalf("got %+v; want step place with the error cleared", got)
	}
}

func TestWaitingOn(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	addTenant(t, s, "placed", tenants.Shared, "shared-1", tenants.TenantProvisioning)
	addTenant(t, s, "unplaced", tenants.Shared, "", tenants.TenantProvisioning)
	addTenant(t, s, "big-bank", tenants.Dedicated, "", tenants.TenantProvisioning)
	addTenant(t, s, "done", tenants.Shared, "shared-1", tenants.TenantActive)
	for i, id := range []string{"placed", "unplaced", "big-bank", "done"} {
		if err := s.StartOnboarding(ctx, id, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.WaitingOn(ctx, "shared-1", tenants.Shared)
	want := []controlplane.WaitingOnboarding{{TenantID: "placed", RequestID: 1}, {TenantID: "unplaced", RequestID: 2}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("shared: got %+v, %v; want %+v", got, err, want)
	}
	got, err = s.WaitingOn(ctx, "other", tenants.Dedicated)
	if err != nil || len(got) != 0 {
		t.Fatalf("dedicated: got %+v, %v; want none (unplaced shared tenants wait on shared instances only)", got, err)
	}
}
