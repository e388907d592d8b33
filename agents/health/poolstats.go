package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// What the pool watch accepts from Redis. Whoever can write to the fleet's
// Redis can publish statistics, so they are bounded and checked before use;
// a process whose statistics fail is skipped (and counted), never trusted in
// part.
const (
	maxStatsBytes     = 4 << 20
	maxPoolsPerProc   = 1000
	maxTenantsPerPool = 100_000
	maxPoolSize       = 100_000
	maxWaiting        = 10_000_000
	maxStatsAge       = 5 * time.Minute
	maxStatsAhead     = time.Minute
)

var (
	processPattern = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)
	poolPattern    = regexp.MustCompile(`^(instance|tenant):[a-z0-9][a-z0-9-]{0,62}$`)
)

// errBadStats marks published statistics the watch refused.
var errBadStats = errors.New("health: invalid pool statistics")

// decodeStats parses and validates one process's published statistics,
// read under key.
func decodeStats(fleet, key string, raw []byte, now time.Time) (tenants.ProcessStats, error) {
	var ps tenants.ProcessStats
	if len(raw) > maxStatsBytes {
		return ps, fmt.Errorf("%w: %d bytes", errBadStats, len(raw))
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		return ps, fmt.Errorf("%w: not JSON", errBadStats)
	}
	process, ok := strings.CutPrefix(key, tenants.StatsKey(fleet, ""))
	switch {
	case !ok || !processPattern.MatchString(ps.Process) || ps.Process != process:
		return ps, fmt.Errorf("%w: process name", errBadStats)
	case ps.At.Before(now.Add(-maxStatsAge)) || ps.At.After(now.Add(maxStatsAhead)):
		return ps, fmt.Errorf("%w: published at %s", errBadStats, ps.At.Format(time.RFC3339))
	case len(ps.Pools) > maxPoolsPerProc:
		return ps, fmt.Errorf("%w: %d pools", errBadStats, len(ps.Pools))
	}
	seen := map[string]bool{}
	for _, p := range ps.Pools {
		if err := validPool(p); err != nil {
			return ps, err
		}
		if seen[p.Pool] {
			return ps, fmt.Errorf("%w: pool %s twice", errBadStats, p.Pool)
		}
		seen[p.Pool] = true
	}
	return ps, nil
}

func validPool(p tenants.PoolStats) error {
	bad := func(what string) error { return fmt.Errorf("%w: pool %q: %s", errBadStats, p.Pool, what) }
	switch {
	case !poolPattern.MatchString(p.Pool):
		return bad("name")
	case p.Size < 1 || p.Size > maxPoolSize:
		return bad("size")
	case p.InFlight < 0 || p.InFlight > p.Size:
		return bad("in_flight")
	case p.Waiting < 0 || p.Waiting > maxWaiting:
		return bad("waiting")
	case p.Reserve < 0 || (p.Reserve >= p.Size && p.Reserve > 0):
		return bad("reserve")
	case p.TenantCap < 0 || p.TenantCap > p.Size:
		return bad("tenant_cap")
	case len(p.Tenants) > maxTenantsPerPool:
		return bad("tenants")
	}
	for id, t := range p.Tenants {
		if tenants.ValidateID(id) != nil {
			return bad("tenant id")
		}
		if t.InFlight < 0 || t.InFlight > p.Size || t.Waiting < 0 || t.Waiting > maxWaiting {
			return bad("tenant figures")
		}
	}
	return nil
}

// poolInstance is the instance a pool key serves: the shared instance's id,
// or for a dedicated tenant's pool its instance, which has the tenant's id.
func poolInstance(pool string) string {
	_, id, _ := strings.Cut(pool, ":")
	return id
}

// PoolStats reads every process's published pool statistics, checked as
// the pool watch checks them (refused ones are skipped and logged): what
// the dashboard shows as in-flight and waiting callers.
func (a *Agent) PoolStats(ctx context.Context) ([]tenants.ProcessStats, error) {
	out, _, err := a.readStats(ctx, time.Now())
	return out, err
}
