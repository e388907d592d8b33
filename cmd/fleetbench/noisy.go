package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// noisyResult is the last line of `fleetbench noisy`. The flat naive_* and
// fair_* fields are the naive pool and the pooled (fair) mode, as before;
// modes holds every mode of the run with the fairness figures.
type noisyResult struct {
	NaiveP50ms     float64                `json:"naive_p50_ms"`
	NaiveP99ms     float64                `json:"naive_p99_ms"`
	NaiveMaxMs     float64                `json:"naive_max_ms"`
	NaiveTimeouts  int                    `json:"naive_timeouts"`
	NaiveBatchQPS  float64                `json:"naive_batch_qps"`
	FairP50ms      float64                `json:"fair_p50_ms"`
	FairP99ms      float64                `json:"fair_p99_ms"`
	FairMaxMs      float64                `json:"fair_max_ms"`
	FairTimeouts   int                    `json:"fair_timeouts"`
	FairBatchQPS   float64                `json:"fair_batch_qps"`
	FairBatchRatio float64                `json:"fair_batch_ratio"`
	Modes          map[string]*modeResult `json:"modes"`
	Tenants        int                    `json:"tenants"`
	Workers        int                    `json:"workers"`
	Pool           int                    `json:"pool"`
	BatchMs        int                    `json:"batch_ms"`
	Duration       string                 `json:"duration"`
}

// modeResult is what one mode of the scenario measured.
type modeResult struct {
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	Timeouts int     `json:"timeouts"`
	BatchQPS float64 `json:"batch_qps"`
	// BatchRatio is BatchQPS over the naive pool's.
	BatchRatio float64 `json:"batch_ratio"`
	// TenantQPSMin and TenantQPSMax are the lowest and highest batch
	// throughput of one batch tenant; Jain is Jain's fairness index of the
	// batch tenants' throughput (1: equal shares, 1/n: one tenant has all);
	// BelowHalf counts batch tenants below half the mean share.
	TenantQPSMin float64 `json:"tenant_qps_min"`
	TenantQPSMax float64 `json:"tenant_qps_max"`
	Jain         float64 `json:"jain"`
	BelowHalf    int     `json:"below_half"`
	// MaxConnections is the most client backends the server showed on the
	// data database during the phase (sampled every 10 ms).
	MaxConnections int `json:"max_connections"`
	// OpensPerSec and Evictions: connections the tenant pools opened per
	// second, and idle ones they closed for another tenant, in the phase
	// (tenant pools only).
	OpensPerSec float64 `json:"opens_per_sec,omitempty"`
	Evictions   uint64  `json:"evictions,omitempty"`
}

type noisyParams struct {
	tenants, workers, pool, batchMs int
	duration, interval, deadline    time.Duration
}

// phase is what one run of the scenario measured.
type phase struct {
	latencies []time.Duration
	timeouts  int
	batchDone int64
	perTenant []int64 // batch queries done, by batch tenant
	elapsed   time.Duration
	maxConns  int
}

func runNoisy(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("noisy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p noisyParams
	fs.IntVar(&p.tenants, "tenants", 18, "batch tenants")
	fs.IntVar(&p.workers, "workers", 4, "batch workers per tenant")
	fs.IntVar(&p.pool, "pool", benchPoolSize, "connections of the pool")
	fs.IntVar(&p.batchMs, "batch-ms", 50, "how long each batch query holds its connection, in ms")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "duration of each phase (naive, then fair)")
	fs.DurationVar(&p.interval, "interval", 10*time.Millisecond, "interval between the interactive tenant's queries")
	fs.DurationVar(&p.deadline, "deadline", benchAcquireTimeout, "deadline of each interactive query")
	isolation := fs.String("isolation", "pooled", "pooled: naive pool, then the pooled mode; strict: a strict phase after those")
	bouncer := fs.String("pgbouncer", "", "path of a pgbouncer binary: add a phase through PgBouncer in transaction mode, one user per tenant")
	bouncerPool := fs.Int("pgbouncer-pool-size", 0, "PgBouncer default_pool_size (per tenant user); default our per-tenant cap, pool/4")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if p.tenants < 1 || p.workers < 0 || p.pool < 2 || p.batchMs < 0 || p.duration <= 0 || p.interval <= 0 || p.deadline <= 0 {
		return errors.New("noisy: -tenants >= 1, -workers >= 0, -pool >= 2, -batch-ms >= 0 and positive durations please")
	}
	level, err := tenants.ParseIsolation(*isolation)
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, cfg, stderr, func(pc *tenants.PoolsConfig) { pc.PoolSize, pc.AcquireTimeout = p.pool, p.deadline })
	if err != nil {
		return err
	}
	defer e.close()

	batchIDs := make([]string, p.tenants)
	for i := range batchIDs {
		batchIDs[i] = fmt.Sprintf("batch-%03d", i+1)
		if err := e.addTenant(ctx, batchIDs[i], 10); err != nil {
			return err
		}
	}
	const live = "live"
	if err := e.addTenant(ctx, live, 100); err != nil {
		return err
	}
	liveSchema := pgx.Identifier{tenants.SchemaName(live), "items"}.Sanitize()
	sleep := float64(p.batchMs) / 1000
	res := noisyResult{Tenants: p.tenants, Workers: p.workers, Pool: p.pool, BatchMs: p.batchMs,
		Duration: p.duration.String(), Modes: map[string]*modeResult{}}

	// Baseline: a plain pgxpool of the same size, every tenant on it.
	pc, err := pgxpool.ParseConfig(e.dataURL)
	if err != nil {
		return err
	}
	pc.MaxConns = int32(p.pool)
	naive, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer naive.Close()
	warm(p.pool, func() { _, _ = naive.Exec(ctx, "SELECT pg_sleep(0.02)") })
	fmt.Fprintf(stderr, "noisy: naive pool of %d, %d tenants x %d workers holding %d ms, interactive every %s, for %s\n",
		p.pool, p.tenants, p.workers, p.batchMs, p.interval, p.duration)
	naivePhase := runPhase(ctx, e, p, batchIDs,
		func(ctx context.Context, _ string) error {
			_, err := naive.Exec(ctx, "SELECT pg_sleep($1)", sleep)
			return err
		},
		func(ctx context.Context) error {
			var v string
			return naive.QueryRow(ctx, "SELECT v FROM "+liveSchema+" WHERE id = 1").Scan(&v)
		})
	naive.Close()
	res.Modes["naive"] = naivePhase.result(nil)

	// The tenant-aware pools, batch work marked as such: pooled, then strict.
	modes := []tenants.Isolation{tenants.Pooled}
	if level == tenants.Strict {
		modes = append(modes, tenants.Strict)
	}
	batchCtx := tenants.WithPriority(ctx, tenants.Batch)
	for _, mode := range modes {
		if err := e.setIsolation(ctx, mode, append([]string{live}, batchIDs...)...); err != nil {
			return err
		}
		e.pools.Reset(e.instance.ID)
		warm(p.pool, func() {})
		for i := range p.pool { // open connections and prepare the statements
			_, _ = e.pools.Exec(ctx, batchIDs[i%len(batchIDs)], "SELECT pg_sleep($1)", 0.0)
		}
		var wg sync.WaitGroup
		for i := range p.pool {
			wg.Go(func() { _, _ = e.pools.Exec(ctx, batchIDs[i%len(batchIDs)], "SELECT pg_sleep($1)", 0.02) })
		}
		wg.Wait()
		_ = e.pools.QueryRow(ctx, live, "SELECT v FROM items WHERE id = 1").Scan(new(string))
		fmt.Fprintf(stderr, "noisy: tenant-aware pools, %s tenants, same scenario\n", mode)
		before := poolCounters(e.pools)
		ph := runPhase(ctx, e, p, batchIDs,
			func(_ context.Context, id string) error {
				_, err := e.pools.Exec(batchCtx, id, "SELECT pg_sleep($1)", sleep)
				return err
			},
			func(ctx context.Context) error {
				var v string
				return e.pools.QueryRow(ctx, live, "SELECT v FROM items WHERE id = 1").Scan(&v)
			})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		after := poolCounters(e.pools)
		m := ph.result(res.Modes["naive"])
		m.OpensPerSec = round(float64(after.opens-before.opens) / ph.elapsed.Seconds())
		m.Evictions = after.evictions - before.evictions
		res.Modes[string(mode)] = m
		for _, ps := range e.pools.Stats() {
			if t, ok := ps.Tenants[live]; ok {
				fmt.Fprintf(stderr, "noisy: %s admission waits of %s: %s\n", mode, live, bucketsLine(t.AcquireWait))
			}
		}
	}
	e.pools.Reset(e.instance.ID)

	if *bouncer != "" {
		size := cmpOr(*bouncerPool, max(1, p.pool/4)) // our default per-tenant cap
		ph, err := runBouncerPhase(ctx, e, p, *bouncer, size, batchIDs, live, sleep)
		if err != nil {
			return fmt.Errorf("pgbouncer phase: %w", err)
		}
		res.Modes["pgbouncer"] = ph.result(res.Modes["naive"])
	}

	n, f := res.Modes["naive"], res.Modes["pooled"]
	res.NaiveP50ms, res.NaiveP99ms, res.NaiveMaxMs, res.NaiveTimeouts, res.NaiveBatchQPS = n.P50ms, n.P99ms, n.MaxMs, n.Timeouts, n.BatchQPS
	res.FairP50ms, res.FairP99ms, res.FairMaxMs, res.FairTimeouts, res.FairBatchQPS, res.FairBatchRatio =
		f.P50ms, f.P99ms, f.MaxMs, f.Timeouts, f.BatchQPS, f.BatchRatio
	for _, name := range []string{"naive", "pooled", "strict", "pgbouncer"} {
		if m := res.Modes[name]; m != nil {
			fmt.Fprintf(stderr, "noisy: %-9s interactive p50/p99/max %.2f/%.2f/%.2f ms, %d timeouts; batch %.1f qps (%.2f of naive), per tenant %.1f..%.1f qps, Jain %.3f, %d below half; max %d connections, %.1f opens/s\n",
				name, m.P50ms, m.P99ms, m.MaxMs, m.Timeouts, m.BatchQPS, m.BatchRatio, m.TenantQPSMin, m.TenantQPSMax, m.Jain, m.BelowHalf, m.MaxConnections, m.OpensPerSec)
		}
	}
	return printResult(stdout, res)
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// counters are the pools' cumulative connection counters.
type counters struct{ opens, evictions uint64 }

func poolCounters(p *tenants.Pools) counters {
	var c counters
	for _, s := range p.Stats() {
		c.opens += s.Opens
		c.evictions += s.Evictions
	}
	return c
}

// result summarises the phase; naive is the baseline's result (nil for
// the baseline itself).
func (ph phase) result(naive *modeResult) *modeResult {
	l := sortedCopy(ph.latencies)
	m := &modeResult{P50ms: ms(percentile(l, .5)), P99ms: ms(percentile(l, .99)), MaxMs: ms(percentile(l, 1)),
		Timeouts: ph.timeouts, BatchQPS: round(float64(ph.batchDone) / ph.elapsed.Seconds()), MaxConnections: ph.maxConns}
	if naive != nil && naive.BatchQPS > 0 {
		m.BatchRatio = round(m.BatchQPS / naive.BatchQPS)
	} else if naive == nil {
		m.BatchRatio = 1
	}
	qps := make([]float64, len(ph.perTenant))
	for i, n := range ph.perTenant {
		qps[i] = float64(n) / ph.elapsed.Seconds()
	}
	m.TenantQPSMin, m.TenantQPSMax, m.Jain, m.BelowHalf = fairness(qps)
	return m
}

// fairness returns the lowest and highest share, Jain's fairness index
// (sum x)^2 / (n sum x^2) and how many shares are below half the mean.
func fairness(x []float64) (lo, hi, jain float64, belowHalf int) {
	if len(x) == 0 {
		return 0, 0, 0, 0
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	var sum, sq float64
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		sum += v
		sq += v * v
	}
	if sq > 0 {
		jain = sum * sum / (float64(len(x)) * sq)
	}
	mean := sum / float64(len(x))
	for _, v := range x {
		if v < mean/2 {
			belowHalf++
		}
	}
	return round(lo), round(hi), round(jain), belowHalf
}

// warm runs f n times concurrently.
func warm(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(f)
	}
	wg.Wait()
}

// runPhase runs the batch workers and the interactive ticker for
// p.duration, sampling the server's connections to the data database.
// Batch queries count when they finish inside the window; each interactive
// query runs in its own goroutine (a fixed arrival rate, as requests
// arrive) with p.deadline, and a query that fails counts as a timeout.
func runPhase(ctx context.Context, e *env, p noisyParams, batchIDs []string,
	batch func(ctx context.Context, id string) error, interactive func(ctx context.Context) error) phase {
	var (
		res     phase
		mu      sync.Mutex
		workers sync.WaitGroup
		probes  sync.WaitGroup
	)
	done := make([]atomic.Int64, len(batchIDs))
	start := time.Now()
	end := start.Add(p.duration)
	stopSampling := sampleConnections(ctx, e, &res.maxConns)
	for i, id := range batchIDs {
		for range p.workers {
			workers.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					if err := batch(ctx, id); err == nil && time.Now().Before(end) {
						done[i].Add(1)
					}
				}
			})
		}
	}
	tick := time.NewTicker(p.interval)
	for now := time.Now(); now.Before(end) && ctx.Err() == nil; now = <-tick.C {
		probes.Go(func() {
			qctx, cancel := context.WithTimeout(ctx, p.deadline)
			defer cancel()
			t0 := time.Now()
			err := interactive(qctx)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.timeouts++
				return
			}
			res.latencies = append(res.latencies, took)
		})
	}
	tick.Stop()
	res.elapsed = time.Since(start)
	res.perTenant = make([]int64, len(batchIDs))
	for i := range done {
		res.perTenant[i] = done[i].Load()
		res.batchDone += res.perTenant[i]
	}
	probes.Wait()
	workers.Wait()
	stopSampling()
	return res
}

// sampleConnections counts, every 10 ms until stopped, the client backends
// on the data database other than its own session and the env's superuser
// session, and keeps the most.
func sampleConnections(ctx context.Context, e *env, most *int) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	sampler, err := pgx.Connect(ctx, e.dataURL)
	if err != nil {
		fmt.Fprintf(e.stderr, "noisy: connection sampler: %v\n", err)
		cancel()
		return func() {}
	}
	envPID := e.data.PgConn().PID()
	go func() {
		defer close(done)
		defer sampler.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int
			err := sampler.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
				WHERE datname = current_database() AND backend_type = 'client backend'
				  AND pid <> pg_backend_pid() AND pid <> $1`, envPID).Scan(&n)
			if err == nil && n > *most {
				*most = n
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// bucketsLine renders a histogram as "<=le:count" pairs of its non-empty
// buckets.
func bucketsLine(h tenants.HistogramSnapshot) string {
	out := fmt.Sprintf("n=%d", h.Count)
	var prev uint64
	for _, b := range h.Buckets {
		if b.Count > prev {
			out += fmt.Sprintf(" <=%gs:%d", b.UpperBound, b.Count-prev)
		}
		prev = b.Count
	}
	return out
}
