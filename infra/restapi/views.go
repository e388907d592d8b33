// Package restapi serves the fleet's read-only REST resources over the
// control-plane catalog (tenants, instances) and defines their JSON form,
// which the CLI's --json output shares.
package restapi

import (
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// TenantJSON is the JSON form of a tenant.
type TenantJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Tier string `json:"tier"`
	// Isolation is "pooled" or "strict" (docs/tenants.md, "Isolation levels").
	Isolation    string    `json:"isolation"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	Instance     string    `json:"instance"`
	Database     string    `json:"database"`
	Schema       string    `json:"schema"`
	Role         string    `json:"role"`
	RouteVersion int64     `json:"route_version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// TenantView converts a catalog tenant to its JSON form.
func TenantView(t controlplane.Tenant) TenantJSON {
	return TenantJSON{
		ID: t.ID, Name: t.Name, Tier: string(t.Tier), Isolation: string(t.Isolation), Status: string(t.Status), StatusReason: t.StatusReason,
		Instance: t.InstanceID, Database: t.Database, Schema: t.Schema, Role: t.Role,
		RouteVersion: t.RouteVersion, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// InstanceJSON is the JSON form of an instance, with its tenant count.
type InstanceJSON struct {
	ID             string    `json:"id"`
	Provider       string    `json:"provider"`
	Tier           string    `json:"tier"`
	Status         string    `json:"status"`
	StatusReason   string    `json:"status_reason,omitempty"`
	Host           string    `json:"host"`
	Port           int       `json:"port"`
	Database       string    `json:"database"`
	ProviderRef    string    `json:"provider_ref,omitempty"`
	Tenants        int       `json:"tenants"`
	MaxTenants     int       `json:"max_tenants"`
	MaxConnections int       `json:"max_connections"`
	CreatedAt      time.Time `json:"created_at"`
}

// InstanceView converts a catalog instance and its tenant count.
func InstanceView(i controlplane.Instance, tenantCount int) InstanceJSON {
	return InstanceJSON{
		ID: i.ID, Provider: i.Provider, Tier: string(i.Tier), Status: string(i.Status), StatusReason: i.StatusReason,
		Host: i.Host, Port: i.Port, Database: i.Database, ProviderRef: i.ProviderRef,
		Tenants: tenantCount, MaxTenants: i.MaxTenants, MaxConnections: i.MaxConnections, CreatedAt: i.CreatedAt,
	}
}
