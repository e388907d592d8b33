package provider

import "context"

// DefaultCapacityThreshold is the fill ratio past which the provisioner asks
// for the next shared instance ahead of need.
const DefaultCapacityThreshold = 0.80

// Capacity is how full a shared instance is along its three limits.
type Capacity struct {
	// Tenants placed on the instance, and how many it may hold.
	Tenants, MaxTenants int
	// Connections open on the instance, and its connection limit.
	Connections, MaxConnections int
	// StorageUsed and StorageAllocated are in bytes.
	StorageUsed, StorageAllocated int64
}

// Ratio is the fullest of the three dimensions: the highest of
// tenants/max, connections/max and storage used/allocated. A dimension whose
// maximum is 0 (or negative) is unknown and ignored; with no known dimension
// Ratio is 0. The result may exceed 1 when an instance is over a limit.
func (c Capacity) Ratio() float64 {
	r := ratio(float64(c.Tenants), float64(c.MaxTenants))
	r = max(r, ratio(float64(c.Connections), float64(c.MaxConnections)))
	r = max(r, ratio(float64(c.StorageUsed), float64(c.StorageAllocated)))
	return r
}

// Exceeds reports whether Ratio is at or past threshold (e.g.
// DefaultCapacityThreshold).
func (c Capacity) Exceeds(threshold float64) bool {
	return c.Ratio() >= threshold
}

func ratio(used, limit float64) float64 {
	if limit <= 0 {
		return 0
	}
	return max(used, 0) / limit
}

// Usage is what an instance currently uses, as measured by a UsageReporter.
type Usage struct {
	// Connections is the number of open backends on the instance's
	// database.
	Connections int
	// StorageBytes is the storage in use, in bytes.
	StorageBytes int64
}

// UsageReporter is implemented by providers that can measure an instance's
// current usage directly (the local provider). Callers type-assert a
// Provider to it; for providers that do not implement it, usage comes from
// metrics.
type UsageReporter interface {
	// Usage measures the instance ref. An unknown ref returns an error
	// wrapping ErrNotFound.
	Usage(ctx context.Context, ref string) (Usage, error)
}

// CapacityOf combines an instance's limits, its measured usage and its
// tenant counts into a Capacity.
func CapacityOf(inst Instance, u Usage, tenants, maxTenants int) Capacity {
	return Capacity{
		Tenants:          tenants,
		MaxTenants:       maxTenants,
		Connections:      u.Connections,
		MaxConnections:   inst.MaxConnections,
		StorageUsed:      u.StorageBytes,
		StorageAllocated: inst.StorageBytes,
	}
}
