package provider_test

import (
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

func TestCapacityRatio(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    provider.Capacity
		want float64
	}{
		{"empty", provider.Capacity{}, 0},
		{"tenants highest", provider.Capacity{Tenants: 9, MaxTenants: 10, Connections: 10, MaxConnections: 100, StorageUsed: 1, StorageAllocated: 4}, 0.9},
		{"connections highest", provider.Capacity{Tenants: 1, MaxTenants: 10, Connections: 85, MaxConnections: 100}, 0.85},
		{"storage highest", provider.Capacity{Tenants: 1, MaxTenants: 10, StorageUsed: 3, StorageAllocated: 4}, 0.75},
		{"unknown max ignored", provider.Capacity{Tenants: 50, MaxTenants: 0, Connections: 1, MaxConnections: 2}, 0.5},
		{"over limit", provider.Capacity{Tenants: 12, MaxTenants: 10}, 1.2},
	}
	for _, tc := range cases {
		if got := tc.c.Ratio(); got != tc.want {
			t.Errorf("%s: Ratio() got %v, want %v", tc.name, got, tc.want)
		}
	}
	at := provider.Capacity{Tenants: 8, MaxTenants: 10}
	if !at.Exceeds(provider.DefaultCapacityThreshold) {
		t.Errorf("8 of 10 tenants: Exceeds(0.8) got false, want true")
	}
	under := provider.Capacity{Tenants: 7, MaxTenants: 10}
	if under.Exceeds(provider.DefaultCapacityThreshold) {
		t.Errorf("7 of 10 tenants: Exceeds(0.8) got true, want false")
	}
}

func TestCapacityOf(t *testing.T) {
	t.Parallel()
	inst := provider.Instance{MaxConnections: 100, StorageBytes: 1000}
	got := provider.CapacityOf(inst, provider.Usage{Connections: 20, StorageBytes: 900}, 3, 10)
	want := provider.Capacity{Tenants: 3, MaxTenants: 10, Connections: 20, MaxConnections: 100, StorageUsed: 900, StorageAllocated: 1000}
	if got != want {
		t.Errorf("CapacityOf: got %+v, want %+v", got, want)
	}
	if got.Ratio() != 0.9 {
		t.Errorf("Ratio: got %v, want 0.9", got.Ratio())
	}
}
