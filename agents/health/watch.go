package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// PoolFinding is what the watch saw of one pool in one process.
type PoolFinding struct {
	Process  string `json:"process"`
	Pool     string `json:"pool"`
	Instance string `json:"instance"`
	Size     int    `json:"size"`
	InFlight int    `json:"in_flight"`
	Waiting  int    `json:"waiting"`
	// SaturatedSeconds is how long every slot batch work may use has been
	// held with callers waiting (0 when not saturated).
	SaturatedSeconds float64 `json:"saturated_seconds"`
	// Timeouts are the acquire timeouts since the previous pass.
	Timeouts uint64 `json:"timeouts"`
	// CappedTenants sat at their in-flight cap with waiters for longer
	// than the threshold.
	CappedTenants []string `json:"capped_tenants,omitempty"`
	// Wedged: callers waited through the whole pass and nothing was
	// granted.
	Wedged bool `json:"wedged,omitempty"`
	// Exhausted is the verdict.
	Exhausted bool `json:"exhausted"`
}

// WatchReport is one pass of the pool watch.
type WatchReport struct {
	// Processes counts the processes whose statistics were read,
	// Rejected those refused as invalid.
	Processes int `json:"processes"`
	Rejected  int `json:"rejected"`
	// Pools are the findings, by pool then process.
	Pools []PoolFinding `json:"pools"`
	// Exhausted are the alert subjects found exhausted.
	Exhausted []string `json:"exhausted,omitempty"`
	// Drained are the instances whose pools were sent a drain.
	Drained []string `json:"drained,omitempty"`
}

// watchState is what the watch keeps between passes, per process and pool
// (and tenant), in one Redis hash.
type watchState struct {
	At             time.Time            `json:"at"`
	SaturatedSince time.Time            `json:"saturated_since,omitzero"`
	Grants         uint64               `json:"grants"`
	Exhausted      uint64               `json:"exhausted"`
	Waiting        int                  `json:"waiting"`
	CappedSince    map[string]time.Time `json:"capped_since,omitempty"`
}

func watchStateKey(fleet string) string { return fleet + ":poolwatch:state" }

// Watch runs one pass of the pool watch: it reads every process's
// published pool statistics, decides which pools are exhausted, observes
// pool_exhausted for each (and clears those no longer), and sends a drain
// to the instances of wedged pools.
func (a *Agent) Watch(ctx context.Context) (WatchReport, error) {
	if a.cfg.Redis == nil {
		return WatchReport{}, errors.New("health: the pool watch needs Redis")
	}
	now := time.Now()
	stats, rejected, err := a.readStats(ctx, now)
	if err != nil {
		return WatchReport{}, err
	}
	prev := a.readState(ctx)
	rep := WatchReport{Processes: len(stats), Rejected: rejected}
	next := map[string]watchState{}
	for _, ps := range stats {
		for _, p := range ps.Pools {
			field := ps.Process + "|" + p.Pool
			f, st := a.judge(ps, p, prev[field])
			next[field] = st
			rep.Pools = append(rep.Pools, f)
		}
	}
	sort.Slice(rep.Pools, func(i, j int) bool {
		if rep.Pools[i].Pool != rep.Pools[j].Pool {
			return rep.Pools[i].Pool < rep.Pools[j].Pool
		}
		return rep.Pools[i].Process < rep.Pools[j].Process
	})
	errs := []error{a.writeState(ctx, next)}
	errs = append(errs, a.observePools(ctx, &rep)...)
	return rep, errors.Join(errs...)
}

// judge decides on one pool of one process from its snapshot and the
// state the previous pass left.
func (a *Agent) judge(ps tenants.ProcessStats, p tenants.PoolStats, prev watchState) (PoolFinding, watchState) {
	f := PoolFinding{Process: ps.Process, Pool: p.Pool, Instance: poolInstance(p.Pool), Size: p.Size, InFlight: p.InFlight, Waiting: p.Waiting}
	st := watchState{At: ps.At, Grants: p.AcquireWait.Count, Exhausted: p.Exhausted, Waiting: p.Waiting, CappedSince: map[string]time.Time{}}
	known := !prev.At.IsZero()
	fresh := known && ps.At.After(prev.At)
	if p.Waiting > 0 && p.InFlight >= p.Size-p.Reserve {
		st.SaturatedSince = ps.At
		if known && !prev.SaturatedSince.IsZero() {
			st.SaturatedSince = prev.SaturatedSince
		}
		f.SaturatedSeconds = ps.At.Sub(st.SaturatedSince).Seconds()
	}
	if fresh && p.Exhausted > prev.Exhausted {
		f.Timeouts = p.Exhausted - prev.Exhausted
	}
	f.Wedged = fresh && p.Waiting > 0 && prev.Waiting > 0 && p.AcquireWait.Count == prev.Grants
	for id, t := range p.Tenants {
		if p.TenantCap == 0 || t.Waiting == 0 || t.InFlight < p.TenantCap {
			continue
		}
		since := ps.At
		if s, ok := prev.CappedSince[id]; ok {
			since = s
		}
		st.CappedSince[id] = since
		if ps.At.Sub(since) >= a.cfg.PoolExhaustedAfter {
			f.CappedTenants = append(f.CappedTenants, id)
		}
	}
	slices.Sort(f.CappedTenants)
	f.Exhausted = secs(f.SaturatedSeconds) >= a.cfg.PoolExhaustedAfter || f.Timeouts > 0 || f.Wedged
	return f, st
}

// observePools observes pool_exhausted for every pool (and capped tenant)
// seen, clears the open ones not seen exhausted, and drains the instances
// of wedged pools.
func (a *Agent) observePools(ctx context.Context, rep *WatchReport) []error {
	type agg struct {
		cond  alerts.Condition
		on    bool
		procs []string
	}
	subjects := map[string]*agg{}
	get := func(subject string, c alerts.Condition) *agg {
		g := subjects[subject]
		if g == nil {
			g = &agg{cond: c}
			subjects[subject] = g
		}
		return g
	}
	drain := map[string]bool{}
	for _, f := range rep.Pools {
		g := get(f.Pool, alerts.Condition{Kind: alerts.PoolExhausted, Subject: f.Pool, Instance: f.Instance})
		if f.Exhausted {
			g.on = true
			g.procs = append(g.procs, f.Process)
			g.cond.Summary = fmt.Sprintf("pool %s exhausted: %d of %d connections held, %d waiting for %.0fs, %d acquire timeouts",
				f.Pool, f.InFlight, f.Size, f.Waiting, f.SaturatedSeconds, f.Timeouts)
			g.cond.Details = map[string]any{"size": f.Size, "in_flight": f.InFlight, "waiting": f.Waiting,
				"saturated_seconds": f.SaturatedSeconds, "timeouts": f.Timeouts, "wedged": f.Wedged}
		}
		if f.Wedged {
			drain[f.Instance] = true
		}
		for _, id := range f.CappedTenants {
			s := f.Pool + "/" + id
			t := get(s, alerts.Condition{Kind: alerts.PoolExhausted, Subject: s, Instance: f.Instance, Tenant: id,
				Summary: fmt.Sprintf("tenant %s sits at its in-flight cap on pool %s with callers waiting", id, f.Pool)})
			t.on = true
			t.procs = append(t.procs, f.Process)
		}
	}
	var errs []error
	for s, g := range subjects {
		if g.on {
			rep.Exhausted = append(rep.Exhausted, s)
			if g.cond.Details == nil {
				g.cond.Details = map[string]any{}
			}
			g.cond.Details["processes"] = g.procs
		}
		if _, err := a.cfg.Alerts.Observe(ctx, g.cond, g.on); err != nil {
			errs = append(errs, err)
		}
	}
	slices.Sort(rep.Exhausted)
	// A pool gone from every process (idle, or the process ended) is no
	// longer exhausted anywhere.
	seen := make(map[string]bool, len(subjects))
	for s := range subjects {
		seen[s] = true
	}
	errs = append(errs, a.clearOpen(ctx, alerts.PoolExhausted, seen)...)
	for inst := range drain {
		if err := tenants.PublishDrain(ctx, a.cfg.Redis, a.cfg.Fleet, inst); err != nil {
			errs = append(errs, err)
			continue
		}
		a.cfg.Logger.WarnContext(ctx, "health: pool wedged, drain sent", "instance", inst)
		rep.Drained = append(rep.Drained, inst)
	}
	slices.Sort(rep.Drained)
	return errs
}

// readStats reads and validates every process's published statistics
// (tenants.ReadStats); refused ones are logged and counted.
func (a *Agent) readStats(ctx context.Context, now time.Time) ([]tenants.ProcessStats, int, error) {
	stats, refused, err := tenants.ReadStats(ctx, a.cfg.Redis, a.cfg.Fleet, now)
	if err != nil {
		return nil, 0, fmt.Errorf("health: %w", err)
	}
	for _, r := range refused {
		a.cfg.Logger.WarnContext(ctx, "health: pool statistics refused", "error", r)
	}
	return stats, len(refused), nil
}

// readState reads the previous pass's state; anything unreadable is
// treated as no state (the pass then cannot see timeouts or wedges).
func (a *Agent) readState(ctx context.Context) map[string]watchState {
	raw, err := a.cfg.Redis.HGetAll(ctx, watchStateKey(a.cfg.Fleet)).Result()
	out := map[string]watchState{}
	if err != nil {
		return out
	}
	for k, v := range raw {
		var st watchState
		if len(v) <= tenants.MaxStatsBytes && json.Unmarshal([]byte(v), &st) == nil {
			out[k] = st
		}
	}
	return out
}

// writeState replaces the state with next, expiring if the watch stops.
func (a *Agent) writeState(ctx context.Context, next map[string]watchState) error {
	key := watchStateKey(a.cfg.Fleet)
	_, err := a.cfg.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(next) == 0 {
			return nil
		}
		vals := make([]any, 0, 2*len(next))
		for k, st := range next {
			raw, err := json.Marshal(st)
			if err != nil {
				return err
			}
			vals = append(vals, k, raw)
		}
		p.HSet(ctx, key, vals...)
		p.Expire(ctx, key, 10*time.Minute)
		return nil
	})
	if err != nil {
		return fmt.Errorf("health: keep pool watch state: %w", err)
	}
	return nil
}
