package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is a snapshot of one pool's admission state.
type PoolStats struct {
	// Pool is the pool key ("instance:<id>" or "tenant:<id>").
	Pool string `json:"pool"`
	// Size is the number of connections.
	Size int `json:"size"`
	// InFlight is how many connections are granted right now.
	InFlight int `json:"in_flight"`
	// Waiting is how many callers wait for one.
	Waiting int `json:"waiting"`
	// Exhausted counts callers that gave up after the acquire deadline.
	Exhausted uint64 `json:"exhausted"`
	// AcquireWait is the histogram of admission waits.
	AcquireWait HistogramSnapshot `json:"acquire_wait"`
	// Open is how many connections are open (never above Size), Idle how
	// many of them are idle, whoever they log in as.
	Open int `json:"open"`
	Idle int `json:"idle"`
	// Opens counts connections opened since the pool was created.
	Opens uint64 `json:"opens"`
	// Evictions counts idle connections closed to make room in the budget
	// for another login (a tenant switch of a strict tenant).
	Evictions uint64 `json:"evictions"`
	// Tenants holds the same figures per tenant seen on the pool.
	Tenants map[string]TenantStats `json:"tenants"`
	// TenantCap is the most slots one tenant may hold, Reserve how many
	// slots batch work may not use (PoolsConfig): the pool watch needs
	// them to tell a saturated pool or a capped tenant.
	TenantCap int `json:"tenant_cap"`
	Reserve   int `json:"reserve"`
}

// TenantStats is one tenant's share of a pool.
type TenantStats struct {
	InFlight    int               `json:"in_flight"`
	Waiting     int               `json:"waiting"`
	Exhausted   uint64            `json:"exhausted"`
	AcquireWait HistogramSnapshot `json:"acquire_wait"`
}

// Stats returns a snapshot of every open pool.
func (p *Pools) Stats() []PoolStats {
	p.mu.RLock()
	pools := make([]*tenantPool, 0, len(p.pools))
	for _, tp := range p.pools {
		pools = append(pools, tp)
	}
	p.mu.RUnlock()
	out := make([]PoolStats, 0, len(pools))
	for _, tp := range pools {
		s := tp.gate.snapshot()
		s.Open, s.Idle = tp.conns.counts()
		s.Opens, s.Evictions = tp.conns.opens.Load(), tp.conns.evictions.Load()
		out = append(out, s)
	}
	return out
}

// StatsKey is the Redis key under which process publishes its pool
// statistics (a JSON ProcessStats, expiring after three intervals).
func StatsKey(fleet, process string) string { return fleet + ":poolstats:" + process }

// ProcessStats is what a process publishes to Redis.
type ProcessStats struct {
	Process string      `json:"process"`
	At      time.Time   `json:"at"`
	Pools   []PoolStats `json:"pools"`
}

func (p *Pools) publishLoop(ctx context.Context) {
	tick := time.NewTicker(p.cfg.StatsInterval)
	defer tick.Stop()
	for {
		if err := p.PublishStats(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.WarnContext(ctx, "publish pool statistics failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PublishStats writes this process's statistics to Redis now, with a TTL
// of three publishing intervals. Start does it every StatsInterval.
func (p *Pools) PublishStats(ctx context.Context) error {
	if p.cfg.Redis == nil {
		return nil
	}
	raw, err := json.Marshal(ProcessStats{Process: p.cfg.ProcessID, At: time.Now().UTC(), Pools: p.Stats()})
	if err != nil {
		return fmt.Errorf("tenants: encode pool statistics: %w", err)
	}
	if err := p.cfg.Redis.Set(ctx, StatsKey(p.cfg.Fleet, p.cfg.ProcessID), raw, 3*p.cfg.StatsInterval).Err(); err != nil {
		return fmt.Errorf("tenants: publish pool statistics: %w", err)
	}
	return nil
}

func defaultProcessID() string {
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid())
}

// Collector returns a Prometheus collector of the pools' statistics, for
// the fleet's own registry (it registers nothing globally). Metrics, all
// labelled by pool and the tenant ones also by tenant:
// tenantfleet_pool_{size,in_flight,waiting,open_connections},
// tenantfleet_pool_{exhausted,connection_opens,connection_evictions}_total,
// tenantfleet_pool_acquire_wait_seconds, tenantfleet_tenant_{in_flight,waiting},
// tenantfleet_tenant_exhausted_total, tenantfleet_tenant_acquire_wait_seconds.
func (p *Pools) Collector() prometheus.Collector { return &collector{p: p} }

var (
	poolLabels   = []string{"pool"}
	tenantLabels = []string{"pool", "tenant"}

	descPoolSize      = prometheus.NewDesc("tenantfleet_pool_size", "Connections of the pool.", poolLabels, nil)
	descPoolInFlight  = prometheus.NewDesc("tenantfleet_pool_in_flight", "Connections granted now.", poolLabels, nil)
	descPoolWaiting   = prometheus.NewDesc("tenantfleet_pool_waiting", "Callers waiting for a connection.", poolLabels, nil)
	descPoolExhausted = prometheus.NewDesc("tenantfleet_pool_exhausted_total", "Callers that gave up after the acquire deadline.", poolLabels, nil)
	descPoolWait      = prometheus.NewDesc("tenantfleet_pool_acquire_wait_seconds", "Time spent waiting for admission.", poolLabels, nil)
	descPoolOpen      = prometheus.NewDesc("tenantfleet_pool_open_connections", "Connections open now, whoever they log in as.", poolLabels, nil)
	descPoolOpens     = prometheus.NewDesc("tenantfleet_pool_connection_opens_total", "Connections opened.", poolLabels, nil)
	descPoolEvictions = prometheus.NewDesc("tenantfleet_pool_connection_evictions_total", "Idle connections closed to make room for another login.", poolLabels, nil)

	descTenantInFlight  = prometheus.NewDesc("tenantfleet_tenant_in_flight", "Connections the tenant holds now.", tenantLabels, nil)
	descTenantWaiting   = prometheus.NewDesc("tenantfleet_tenant_waiting", "Tenant callers waiting for a connection.", tenantLabels, nil)
	descTenantExhausted = prometheus.NewDesc("tenantfleet_tenant_exhausted_total", "Tenant callers that gave up after the acquire deadline.", tenantLabels, nil)
	descTenantWait      = prometheus.NewDesc("tenantfleet_tenant_acquire_wait_seconds", "Tenant time spent waiting for admission.", tenantLabels, nil)
)

type collector struct{ p *Pools }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolSize, descPoolInFlight, descPoolWaiting, descPoolExhausted,
		descPoolWait, descPoolOpen, descPoolOpens, descPoolEvictions, descTenantInFlight, descTenantWaiting, descTenantExhausted, descTenantWait} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.p.Stats() {
		ch <- prometheus.MustNewConstMetric(descPoolSize, prometheus.GaugeValue, float64(s.Size), s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolInFlight, prometheus.GaugeValue, float64(s.InFlight), s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolWaiting, prometheus.GaugeValue, float64(s.Waiting), s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolExhausted, prometheus.CounterValue, float64(s.Exhausted), s.Pool)
		ch <- constHistogram(descPoolWait, s.AcquireWait, s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolOpen, prometheus.GaugeValue, float64(s.Open), s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolOpens, prometheus.CounterValue, float64(s.Opens), s.Pool)
		ch <- prometheus.MustNewConstMetric(descPoolEvictions, prometheus.CounterValue, float64(s.Evictions), s.Pool)
		for id, t := range s.Tenants {
			ch <- prometheus.MustNewConstMetric(descTenantInFlight, prometheus.GaugeValue, float64(t.InFlight), s.Pool, id)
			ch <- prometheus.MustNewConstMetric(descTenantWaiting, prometheus.GaugeValue, float64(t.Waiting), s.Pool, id)
			ch <- prometheus.MustNewConstMetric(descTenantExhausted, prometheus.CounterValue, float64(t.Exhausted), s.Pool, id)
			ch <- constHistogram(descTenantWait, t.AcquireWait, s.Pool, id)
		}
	}
}

func constHistogram(d *prometheus.Desc, h HistogramSnapshot, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[b.UpperBound] = b.Count
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}
