package config

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is the scheduler role's configuration, part of Config.
type Schedule struct {
	// HealthInterval is how often a health:sweep is enqueued per instance
	// (FLEET_HEALTH_INTERVAL, yaml health_interval). Default 60s, at
	// least 1s.
	HealthInterval time.Duration `yaml:"health_interval"`
	// PoolWatchInterval is how often the pool watch is enqueued
	// (FLEET_POOL_WATCH_INTERVAL, yaml pool_watch_interval). Default 10s,
	// at least 1s.
	PoolWatchInterval time.Duration `yaml:"pool_watch_interval"`
	// CostSchedule is the five-field cron spec, in UTC, of the cost
	// analysis (FLEET_COST_SCHEDULE, yaml cost_schedule). Default
	// "0 2 * * *": daily at 02:00 UTC.
	CostSchedule string `yaml:"cost_schedule"`
	// BatchJobs overrides the timing of batch job kinds by name
	// (FLEET_BATCH_JOBS as kind=period/window pairs, comma separated, e.g.
	// "compliance-snapshot=1h/30m"; yaml batch_jobs: {kind: {period,
	// window}}). Default empty: each kind's own timing (the compliance
	// snapshot runs daily over a 30m window). A period is at least 1s; a
	// window at least 30s (one second per slot) and at most the period. A
	// name that is not a job kind of the fleet fails at start (the kinds
	// are known to the binary, not to this package).
	BatchJobs map[string]BatchTiming `yaml:"batch_jobs"`
}

// BatchTiming is a batch job kind's period and stagger window.
type BatchTiming struct {
	// Period is how often the kind runs per tenant.
	Period time.Duration `yaml:"period"`
	// Window is the stretch at the start of each period over which the
	// tenants' 30 slots are spread.
	Window time.Duration `yaml:"window"`
}

// DefaultCostSchedule is the default CostSchedule.
const DefaultCostSchedule = "0 2 * * *"

func (s *Schedule) applyEnv(getenv func(string) string, dur func(string, *time.Duration), errs *[]error) {
	dur("FLEET_HEALTH_INTERVAL", &s.HealthInterval)
	dur("FLEET_POOL_WATCH_INTERVAL", &s.PoolWatchInterval)
	if v := getenv("FLEET_COST_SCHEDULE"); v != "" {
		s.CostSchedule = v
	}
	if v := getenv("FLEET_BATCH_JOBS"); v != "" {
		jobs, err := ParseBatchJobs(v)
		if err != nil {
			*errs = append(*errs, err)
			return
		}
		s.BatchJobs = jobs
	}
}

// ParseBatchJobs parses FLEET_BATCH_JOBS: kind=period/window pairs,
// comma separated.
func ParseBatchJobs(v string) (map[string]BatchTiming, error) {
	out := map[string]BatchTiming{}
	for _, item := range SplitList(v) {
		kind, timing, ok := strings.Cut(item, "=")
		period, window, ok2 := strings.Cut(timing, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("FLEET_BATCH_JOBS entry %q must be kind=period/window, e.g. compliance-snapshot=1h/30m", item)
		}
		p, err1 := time.ParseDuration(period)
		w, err2 := time.ParseDuration(window)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("FLEET_BATCH_JOBS entry %q: period and window must be durations such as 1h and 30m", item)
		}
		if _, dup := out[kind]; dup {
			return nil, fmt.Errorf("FLEET_BATCH_JOBS names %q twice", kind)
		}
		out[kind] = BatchTiming{Period: p, Window: w}
	}
	return out, nil
}

func (s *Schedule) applyDefaults() {
	s.HealthInterval = cmp.Or(s.HealthInterval, 60*time.Second)
	s.PoolWatchInterval = cmp.Or(s.PoolWatchInterval, 10*time.Second)
	s.CostSchedule = cmp.Or(s.CostSchedule, DefaultCostSchedule)
}

func (s Schedule) validate(bad func(format string, args ...any)) {
	if s.HealthInterval < time.Second {
		bad("FLEET_HEALTH_INTERVAL must be at least 1s, got %s", s.HealthInterval)
	}
	if s.PoolWatchInterval < time.Second {
		bad("FLEET_POOL_WATCH_INTERVAL must be at least 1s, got %s", s.PoolWatchInterval)
	}
	if _, err := cron.ParseStandard(s.CostSchedule); err != nil || strings.HasPrefix(s.CostSchedule, "@every") {
		bad("FLEET_COST_SCHEDULE must be a five-field cron spec (UTC) such as %q, got %q", DefaultCostSchedule, s.CostSchedule)
	}
	for _, kind := range slices.Sorted(maps.Keys(s.BatchJobs)) {
		t := s.BatchJobs[kind]
		switch {
		case t.Period < time.Second:
			bad("FLEET_BATCH_JOBS: %s period must be at least 1s, got %s", kind, t.Period)
		case t.Window < 30*time.Second || t.Window > t.Period:
			bad("FLEET_BATCH_JOBS: %s window must be between 30s (one second per slot) and the period %s, got %s", kind, t.Period, t.Window)
		}
	}
}
