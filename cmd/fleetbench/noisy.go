package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// noisyResult is the last line of `fleetbench noisy`.
type noisyResult struct {
	NaiveP50ms     float64 `json:"naive_p50_ms"`
	NaiveP99ms     float64 `json:"naive_p99_ms"`
	NaiveMaxMs     float64 `json:"naive_max_ms"`
	NaiveTimeouts  int     `json:"naive_timeouts"`
	NaiveBatchQPS  float64 `json:"naive_batch_qps"`
	FairP50ms      float64 `json:"fair_p50_ms"`
	FairP99ms      float64 `json:"fair_p99_ms"`
	FairMaxMs      float64 `json:"fair_max_ms"`
	FairTimeouts   int     `json:"fair_timeouts"`
	FairBatchQPS   float64 `json:"fair_batch_qps"`
	FairBatchRatio float64 `json:"fair_batch_ratio"`
	Tenants        int     `json:"tenants"`
	Workers        int     `json:"workers"`
	Pool           int     `json:"pool"`
	BatchMs        int     `json:"batch_ms"`
	Duration       string  `json:"duration"`
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
	elapsed   time.Duration
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if p.tenants < 1 || p.workers < 0 || p.pool < 2 || p.batchMs < 0 || p.duration <= 0 || p.interval <= 0 || p.deadline <= 0 {
		return errors.New("noisy: -tenants >= 1, -workers >= 0, -pool >= 2, -batch-ms >= 0 and positive durations please")
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
	naivePhase := runPhase(ctx, p, batchIDs,
		func(ctx context.Context, _ string) error {
			_, err := naive.Exec(ctx, "SELECT pg_sleep($1)", sleep)
			return err
		},
		func(ctx context.Context) error {
			var v string
			return naive.QueryRow(ctx, "SELECT v FROM "+liveSchema+" WHERE id = 1").Scan(&v)
		})
	naive.Close()

	// Fair: the tenant-aware pools, batch work marked as such.
	warm(p.pool, func() {})
	for i := range p.pool { // open the pool's connections and prepare the statements
		_, _ = e.pools.Exec(ctx, batchIDs[i%len(batchIDs)], "SELECT pg_sleep($1)", 0.0)
	}
	var wg sync.WaitGroup
	for i := range p.pool {
		wg.Go(func() { _, _ = e.pools.Exec(ctx, batchIDs[i%len(batchIDs)], "SELECT pg_sleep($1)", 0.02) })
	}
	wg.Wait()
	fmt.Fprintf(stderr, "noisy: tenant-aware pools, same scenario\n")
	batchCtx := tenants.WithPriority(ctx, tenants.Batch)
	fairPhase := runPhase(ctx, p, batchIDs,
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
	for _, ps := range e.pools.Stats() {
		if t, ok := ps.Tenants[live]; ok {
			fmt.Fprintf(stderr, "noisy: admission waits of %s: %s\n", live, bucketsLine(t.AcquireWait))
		}
	}

	res := noisyResult{Tenants: p.tenants, Workers: p.workers, Pool: p.pool, BatchMs: p.batchMs, Duration: p.duration.String()}
	nl, fl := sortedCopy(naivePhase.latencies), sortedCopy(fairPhase.latencies)
	res.NaiveP50ms, res.NaiveP99ms, res.NaiveMaxMs = ms(percentile(nl, .5)), ms(percentile(nl, .99)), ms(percentile(nl, 1))
	res.NaiveTimeouts, res.NaiveBatchQPS = naivePhase.timeouts, round(float64(naivePhase.batchDone)/naivePhase.elapsed.Seconds())
	res.FairP50ms, res.FairP99ms, res.FairMaxMs = ms(percentile(fl, .5)), ms(percentile(fl, .99)), ms(percentile(fl, 1))
	res.FairTimeouts, res.FairBatchQPS = fairPhase.timeouts, round(float64(fairPhase.batchDone)/fairPhase.elapsed.Seconds())
	if res.NaiveBatchQPS > 0 {
		res.FairBatchRatio = round(res.FairBatchQPS / res.NaiveBatchQPS)
	}
	fmt.Fprintf(stderr, "noisy: interactive p50/p99/max naive %.2f/%.2f/%.2f ms (%d timeouts of %d), fair %.2f/%.2f/%.2f ms (%d timeouts of %d); batch qps naive %.1f, fair %.1f\n",
		res.NaiveP50ms, res.NaiveP99ms, res.NaiveMaxMs, res.NaiveTimeouts, len(nl)+res.NaiveTimeouts,
		res.FairP50ms, res.FairP99ms, res.FairMaxMs, res.FairTimeouts, len(fl)+res.FairTimeouts,
		res.NaiveBatchQPS, res.FairBatchQPS)
	return printResult(stdout, res)
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
// p.duration. Batch queries count when they finish inside the window; each
// interactive query runs in its own goroutine (a fixed arrival rate, as
// requests arrive) with p.deadline, and a query that fails counts as a
// timeout.
func runPhase(ctx context.Context, p noisyParams, batchIDs []string,
	batch func(ctx context.Context, id string) error, interactive func(ctx context.Context) error) phase {
	var (
		res     phase
		done    atomic.Int64
		mu      sync.Mutex
		workers sync.WaitGroup
		probes  sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(p.duration)
	for _, id := range batchIDs {
		for range p.workers {
			workers.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					if err := batch(ctx, id); err == nil && time.Now().Before(end) {
						done.Add(1)
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
	res.batchDone = done.Load()
	probes.Wait()
	workers.Wait()
	return res
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
