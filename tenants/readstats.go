package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// What readers of the published pool statistics (the health agent's pool
// watch, the cost agent's pool waits) accept from Redis. Whoever can write
// to the fleet's Redis can publish statistics, so they are bounded and
// checked before use; a process whose statistics fail is refused as a
// whole, never trusted in part.
const (
	// MaxStatsBytes is the largest published statistics value read.
	MaxStatsBytes = 4 << 20
	// MaxStatsProcesses bounds how many processes' statistics one read
	// takes.
	MaxStatsProcesses = 10_000
	maxPoolsPerProc   = 1000
	maxTenantsPerPool = 100_000
	maxPoolSize       = 100_000
	maxWaiting        = 10_000_000
	// maxCounter bounds the published counters (exhausted callers,
	// acquisitions), so summing MaxStatsProcesses x maxPoolsPerProc of
	// them cannot overflow a uint64.
	maxCounter = 1 << 40
	// maxWaitSeconds bounds a published histogram's summed wait.
	maxWaitSeconds = 1e12
	maxStatsAge    = 5 * time.Minute
	maxStatsAhead  = time.Minute
)

var (
	processPattern = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)
	poolPattern    = regexp.MustCompile(`^(instance|tenant):[a-z0-9][a-z0-9-]{0,62}$`)
)

// ErrBadStats marks published statistics a reader refused.
var ErrBadStats = errors.New("tenants: invalid pool statistics")

// DecodeStats parses and validates one process's published statistics,
// read under key at now: the process must be the key's, the snapshot
// recent, every pool and tenant figure within bounds.
func DecodeStats(fleet, key string, raw []byte, now time.Time) (ProcessStats, error) {
	var ps ProcessStats
	if len(raw) > MaxStatsBytes {
		return ps, fmt.Errorf("%w: %d bytes", ErrBadStats, len(raw))
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		return ps, fmt.Errorf("%w: not JSON", ErrBadStats)
	}
	process, ok := strings.CutPrefix(key, StatsKey(fleet, ""))
	switch {
	case !ok || !processPattern.MatchString(ps.Process) || ps.Process != process:
		return ps, fmt.Errorf("%w: process name", ErrBadStats)
	case ps.At.Before(now.Add(-maxStatsAge)) || ps.At.After(now.Add(maxStatsAhead)):
		return ps, fmt.Errorf("%w: published at %s", ErrBadStats, ps.At.Format(time.RFC3339))
	case len(ps.Pools) > maxPoolsPerProc:
		return ps, fmt.Errorf("%w: %d pools", ErrBadStats, len(ps.Pools))
	}
	seen := map[string]bool{}
	for _, p := range ps.Pools {
		if err := validPool(p); err != nil {
			return ps, err
		}
		if seen[p.Pool] {
			return ps, fmt.Errorf("%w: pool %s twice", ErrBadStats, p.Pool)
		}
		seen[p.Pool] = true
	}
	return ps, nil
}

func validPool(p PoolStats) error {
	bad := func(what string) error { return fmt.Errorf("%w: pool %q: %s", ErrBadStats, p.Pool, what) }
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
	case p.Exhausted > maxCounter || !validWait(p.AcquireWait):
		return bad("counters")
	}
	for id, t := range p.Tenants {
		if ValidateID(id) != nil {
			return bad("tenant id")
		}
		if t.InFlight < 0 || t.InFlight > p.Size || t.Waiting < 0 || t.Waiting > maxWaiting ||
			t.Exhausted > maxCounter || !validWait(t.AcquireWait) {
			return bad("tenant figures")
		}
	}
	return nil
}

// validWait checks an acquire-wait histogram's count and sum.
func validWait(h HistogramSnapshot) bool {
	return h.Count <= maxCounter && h.Sum >= 0 && h.Sum <= maxWaitSeconds && !math.IsNaN(h.Sum)
}

// ReadStats reads and validates every process's published statistics of
// fleet (at most MaxStatsProcesses), at now. refused holds one error per
// process whose statistics failed DecodeStats, naming its key; err is a
// Redis failure.
func ReadStats(ctx context.Context, rdb redis.UniversalClient, fleet string, now time.Time) (stats []ProcessStats, refused []error, err error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, StatsKeyPattern(fleet), 500).Iterator()
	for iter.Next(ctx) && len(keys) < MaxStatsProcesses {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, nil, fmt.Errorf("tenants: list pool statistics: %w", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for chunk := range slices.Chunk(keys, 200) {
		vals, err := rdb.MGet(ctx, chunk...).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("tenants: read pool statistics: %w", err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok { // expired since the scan
				continue
			}
			ps, err := DecodeStats(fleet, chunk[i], []byte(s), now)
			if err != nil {
				refused = append(refused, fmt.Errorf("%s: %w", chunk[i], err))
				continue
			}
			stats = append(stats, ps)
		}
	}
	return stats, refused, nil
}
