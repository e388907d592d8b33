package tenants

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

func TestCatalogCRUD(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	c := f.cat
	if _, err := c.CreateTenant(ctx, Tenant{ID: "Bad", Name: "x", Tier: Shared}); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("bad id: got %v, want ErrInvalidID", err)
	}
	if _, err := c.CreateTenant(ctx, Tenant{ID: "cat-one", Name: "x", Tier: "huge"}); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("bad tier: got %v, want ErrInvalidValue", err)
	}
	created, err := c.CreateTenant(ctx, Tenant{ID: "cat-one", Name: "Cat One", Tier: Shared})
	if err != nil || created.Status != TenantPending || created.RouteVersion != 1 {
		t.Fatalf("got %+v, %v; want a pending tenant at version 1", created, err)
	}
	if _, err := c.CreateTenant(ctx, Tenant{ID: "cat-one", Name: "again", Tier: Shared}); !errors.Is(err, ErrTenantExists) {
		t.Fatalf("duplicate: got %v, want ErrTenantExists", err)
	}
	if _, err := c.GetTenant(ctx, "cat-none"); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	v, err := c.SetTenantPlacement(ctx, "cat-one", Placement{InstanceID: f.instance.ID, Database: f.dataDB, Schema: "t_cat_one", Role: "x_t_cat_one"})
	if err != nil || v != 2 {
		t.Fatalf("placement: got version %d, %v; want 2", v, err)
	}
	if v, err = c.SetTenantStatus(ctx, "cat-one", TenantFailed, "disk full"); err != nil || v != 3 {
		t.Fatalf("status: got version %d, %v; want 3", v, err)
	}
	got, err := c.GetTenant(ctx, "cat-one")
	if err != nil || got.Status != TenantFailed || got.StatusReason != "disk full" || got.InstanceID != f.instance.ID || got.Schema != "t_cat_one" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := c.SetTenantStatus(ctx, "cat-none", TenantActive, ""); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("got %v, want ErrTenantNotFound", err)
	}
	list, err := c.ListTenants(ctx, TenantFilter{Status: TenantFailed, InstanceID: f.instance.ID})
	if err != nil || len(list) != 1 || list[0].ID != "cat-one" {
		t.Fatalf("list: got %+v, %v", list, err)
	}
	counts, err := c.CountTenants(ctx)
	if err != nil || counts[f.instance.ID] != 1 {
		t.Fatalf("counts: got %v, %v; want 1 on %s", counts, err, f.instance.ID)
	}

	if _, err := c.CreateInstance(ctx, Instance{ID: f.instance.ID, Provider: "local", Tier: Shared}); !errors.Is(err, ErrInstanceExists) {
		t.Fatalf("got %v, want ErrInstanceExists", err)
	}
	inst, err := c.CreateInstance(ctx, Instance{ID: "rds-1", Provider: "rds", Tier: Dedicated})
	if err != nil || inst.Status != InstanceCreating || inst.Port != 5432 || inst.MaxTenants != 500 {
		t.Fatalf("got %+v, %v; want defaults", inst, err)
	}
	if err := c.SetInstanceStatus(ctx, "rds-1", InstanceFailed, "quota"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetInstanceStatus(ctx, "rds-none", InstanceReady, ""); !errors.Is(err, ErrInstanceNotFound) {
		t.Fatalf("got %v, want ErrInstanceNotFound", err)
	}
	if got, err := c.GetInstance(ctx, "rds-1"); err != nil || got.Status != InstanceFailed || got.StatusReason != "quota" {
		t.Fatalf("got %+v, %v", got, err)
	}
	insts, err := c.ListInstances(ctx, InstanceFilter{Tier: Dedicated})
	if err != nil || len(insts) != 1 || insts[0].ID != "rds-1" {
		t.Fatalf("list instances: got %+v, %v", insts, err)
	}
}

func TestIdlePoolIsClosed(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *PoolsConfig) { c.IdleTimeout = 50 * time.Millisecond })
	ctx := context.Background()
	f.addTenant(t, "sleepy")
	eventually.True(t, 5*time.Second, "idle pool closed", func() bool { return len(f.pools.Stats()) == 0 })
	// And created again on the next use.
	if err := f.pools.QueryRow(ctx, "sleepy", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
}
