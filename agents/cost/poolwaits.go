package cost

import (
	"context"
	"log/slog"
	"time"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// PoolWaits is a tenant's admission waits in the fleet's tenants.Pools, as
// every process last published them to Redis (tenants.PublishStats),
// summed over processes and pools. The figures are cumulative since each
// process opened its pools, not windowed like the statement time.
type PoolWaits struct {
	// Acquires is how many admissions were timed, WaitSeconds their summed
	// wait and MeanWaitMS the mean.
	Acquires    uint64  `json:"acquires"`
	WaitSeconds float64 `json:"wait_seconds"`
	MeanWaitMS  float64 `json:"mean_wait_ms"`
	// Exhausted counts callers that gave up after the acquire deadline.
	Exhausted uint64 `json:"exhausted"`
	// Waiting is how many callers waited when the processes published.
	Waiting int `json:"waiting"`
	// Processes is how many processes published figures for the tenant.
	Processes int `json:"processes"`
}

// PoolStatsRead is what the analysis read of the published pool
// statistics: how many processes' statistics it used and refused
// (tenants.DecodeStats), or why it read none.
type PoolStatsRead struct {
	Processes int    `json:"processes"`
	Refused   int    `json:"refused"`
	Error     string `json:"error,omitempty"`
}

// addPoolWaits adds each tenant's pool waits to the report from the pool
// statistics published in Redis, validated (a process whose statistics
// fail validation counts for nothing). Without Redis, or when Redis cannot
// be read, the report says so and the analysis goes on: pool waits are
// not what the money is computed from.
func (a *Analyzer) addPoolWaits(ctx context.Context, rep *Report) {
	rep.PoolStats = &PoolStatsRead{}
	if a.cfg.Redis == nil {
		rep.PoolStats.Error = "not read: the analyzer has no Redis"
		return
	}
	stats, refused, err := tenants.ReadStats(ctx, a.cfg.Redis, a.cfg.Fleet, time.Now())
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "cost: pool statistics not read", slog.Any("error", err))
		rep.PoolStats.Error = err.Error()
		return
	}
	for _, r := range refused {
		a.cfg.Logger.WarnContext(ctx, "cost: pool statistics refused", slog.Any("error", r))
	}
	rep.PoolStats.Processes, rep.PoolStats.Refused = len(stats), len(refused)
	waits := map[string]*PoolWaits{}
	for _, ps := range stats {
		seen := map[string]bool{}
		for _, p := range ps.Pools {
			for id, t := range p.Tenants {
				w := waits[id]
				if w == nil {
					w = &PoolWaits{}
					waits[id] = w
				}
				w.Acquires += t.AcquireWait.Count
				w.WaitSeconds += t.AcquireWait.Sum
				w.Exhausted += t.Exhausted
				w.Waiting += t.Waiting
				if !seen[id] {
					seen[id] = true
					w.Processes++
				}
			}
		}
	}
	for i := range rep.Tenants {
		if w := waits[rep.Tenants[i].TenantID]; w != nil {
			if w.Acquires > 0 {
				w.MeanWaitMS = w.WaitSeconds * 1000 / float64(w.Acquires)
			}
			rep.Tenants[i].PoolWaits = w
		}
	}
}
