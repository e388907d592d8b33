package tenants

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// MinRouteKeyLen is the shortest route key a Router accepts, in bytes.
const MinRouteKeyLen = 32

// Why a route hash read from Redis was rejected: the values of the reason
// label of tenantfleet_route_cache_rejected_total.
const (
	// rejectMalformed: a field is missing or does not parse.
	rejectMalformed = "malformed"
	// rejectTenant: the hash names another tenant than its key.
	rejectTenant = "tenant"
	// rejectNames: role or schema are not the ones NamesFor derives.
	rejectNames = "names"
	// rejectUnsigned: the hash carries no MAC.
	rejectUnsigned = "unsigned"
	// rejectMAC: the MAC does not verify under the route key.
	rejectMAC = "mac"
	// rejectExpired: the MAC verifies but its expiry has passed (a replay
	// of an old hash).
	rejectExpired = "expired"
)

var rejectReasons = []string{rejectMalformed, rejectTenant, rejectNames, rejectUnsigned, rejectMAC, rejectExpired}

// routeMAC signs the route hashes a Router writes to Redis and checks the
// ones it reads. The MAC is HMAC-SHA256 under the fleet's route key over
// every field of the route, the fleet name and an expiry, so a hash cannot
// be altered, moved to another tenant's key or fleet, or replayed after it
// expires.
type routeMAC struct {
	fleet string
	key   []byte
}

// fields flattens route into Redis hash field/value pairs, signed to
// expire at expires.
func (m routeMAC) fields(r Route, expires time.Time) []any {
	exp := expires.UnixMilli()
	return []any{
		"tenant", r.TenantID, "tier", string(r.Tier), "status", string(r.Status),
		"instance", r.InstanceID, "host", r.Host, "port", strconv.Itoa(r.Port),
		"database", r.Database, "schema", r.Schema, "role", r.Role, "isolation", string(r.Isolation),
		"version", strconv.FormatInt(r.Version, 10),
		"expires", strconv.FormatInt(exp, 10),
		"mac", hex.EncodeToString(m.sum(r, exp)),
	}
}

// check parses a Redis hash written by fields for tenant id and verifies
// it. It returns the route, or the reason it must not be used.
func (m routeMAC) check(h map[string]string, id string, now time.Time) (Route, string) {
	r, exp, ok := routeFromHash(h)
	switch {
	case !ok:
		return Route{}, rejectMalformed
	case r.TenantID != id:
		return Route{}, rejectTenant
	case !derivedNames(m.fleet, r):
		return Route{}, rejectNames
	case h["mac"] == "":
		return Route{}, rejectUnsigned
	}
	got, err := hex.DecodeString(h["mac"])
	if err != nil || !hmac.Equal(got, m.sum(r, exp)) {
		return Route{}, rejectMAC
	}
	if now.UnixMilli() >= exp {
		return Route{}, rejectExpired
	}
	return r, ""
}

// derivedNames reports whether the route's role and schema are the ones
// NamesFor derives from its tenant id, or both empty (a tenant not placed
// yet).
func derivedNames(fleet string, r Route) bool {
	if r.Role == "" && r.Schema == "" {
		return true
	}
	n, err := NamesFor(fleet, r.TenantID)
	return err == nil && r.Role == n.Role && r.Schema == n.Schema
}

// sum is the MAC of route r of m's fleet expiring at exp (unix ms). Each
// value is length-prefixed, so no two routes share an input.
func (m routeMAC) sum(r Route, exp int64) []byte {
	msg := make([]byte, 0, 256)
	for _, s := range [...]string{"tenantfleet route v2", m.fleet, r.TenantID, string(r.Tier), string(r.Status),
		r.InstanceID, r.Host, r.Database, r.Schema, r.Role, string(r.Isolation)} {
		msg = binary.AppendUvarint(msg, uint64(len(s)))
		msg = append(msg, s...)
	}
	for _, n := range [...]int64{int64(r.Port), r.Version, exp} {
		msg = binary.AppendVarint(msg, n)
	}
	mac := hmac.New(sha256.New, m.key)
	mac.Write(msg)
	return mac.Sum(nil)
}
