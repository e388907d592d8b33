package tenants

// Tier is where a tenant's data lives: a schema on a shared instance, or a
// database on its own instance.
type Tier string

// The tiers.
const (
	Shared    Tier = "shared"
	Dedicated Tier = "dedicated"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t == Shared || t == Dedicated }

// TenantStatus is the lifecycle state of a tenant. Only active tenants are
// routed.
type TenantStatus string

// The tenant statuses of the tenants table.
const (
	TenantPending      TenantStatus = "pending"
	TenantProvisioning TenantStatus = "provisioning"
	TenantActive       TenantStatus = "active"
	TenantFailed       TenantStatus = "failed"
	TenantOffboarding  TenantStatus = "offboarding"
	TenantOffboarded   TenantStatus = "offboarded"
)

// Valid reports whether s is a known tenant status.
func (s TenantStatus) Valid() bool {
	switch s {
	case TenantPending, TenantProvisioning, TenantActive, TenantFailed, TenantOffboarding, TenantOffboarded:
		return true
	}
	return false
}
