package tenants

import (
	"errors"
	"strconv"
)

// ErrTenantNotFound means no tenant has the id: the answer of Resolve and
// of every RouteSource for an unknown tenant.
var ErrTenantNotFound = errors.New("tenants: tenant not found")

// ErrTenantNotActive means the tenant exists but is not active (pending,
// provisioning, failed, offboarding or offboarded): it has no usable route.
var ErrTenantNotActive = errors.New("tenants: tenant not active")

// Route tells a process where a tenant's data is and how to scope to it.
type Route struct {
	TenantID string
	Tier     Tier
	// Status is the tenant's status; Resolve returns routes of active
	// tenants only.
	Status     TenantStatus
	InstanceID string
	Host       string
	Port       int
	Database   string
	Schema     string
	Role       string
	// Isolation is how the tenant's work is kept from its neighbours:
	// Pooled (also the zero value) or Strict.
	Isolation Isolation
	// Version is the tenant's route_version: it grows with every change.
	Version int64
	// ReplicaID is set only by Pools, on the route of read-only work it
	// sends to a read replica of the instance (Host and Port are then the
	// replica's); empty in every route a Resolver returns, and never read
	// from or written to Redis.
	ReplicaID string
}

// PoolKey names the pool that serves the route: one per shared instance,
// one per dedicated tenant.
func (r Route) PoolKey() string {
	key := "instance:" + r.InstanceID
	if r.Tier == Dedicated {
		key = "tenant:" + r.TenantID
	}
	if r.ReplicaID != "" {
		// A replica's pools are its own: one per shared instance, one per
		// dedicated tenant, as on the primary.
		key = "replica:" + r.ReplicaID + "/" + key
	}
	return key
}

// routeFromHash parses a Redis hash written by routeMAC.fields and returns
// the route and its expiry (unix ms); ok is false when the hash is missing
// or malformed. It checks nothing else: routeMAC.check does.
func routeFromHash(h map[string]string) (r Route, expires int64, ok bool) {
	if len(h) == 0 {
		return Route{}, 0, false
	}
	port, err1 := strconv.Atoi(h["port"])
	version, err2 := strconv.ParseInt(h["version"], 10, 64)
	expires, err3 := strconv.ParseInt(h["expires"], 10, 64)
	r = Route{
		TenantID: h["tenant"], Tier: Tier(h["tier"]), Status: TenantStatus(h["status"]),
		InstanceID: h["instance"], Host: h["host"], Port: port, Database: h["database"],
		Schema: h["schema"], Role: h["role"], Isolation: Isolation(h["isolation"]), Version: version,
	}
	if err1 != nil || err2 != nil || err3 != nil || !r.Tier.Valid() || !r.Status.Valid() || r.TenantID == "" ||
		(r.Isolation != "" && !r.Isolation.Valid()) {
		return Route{}, 0, false
	}
	return r, expires, true
}
