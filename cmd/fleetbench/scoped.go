package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// opens sums the connections the pools opened so far.
func opens(p *tenants.Pools) uint64 {
	var n uint64
	for _, s := range p.Stats() {
		n += s.Opens
	}
	return n
}

// scopedResult is the last line of `fleetbench scoped`.
type scopedResult struct {
	RawP50us    float64 `json:"raw_p50_us"`
	RawP99us    float64 `json:"raw_p99_us"`
	ScopedP50us float64 `json:"scoped_p50_us"`
	ScopedP99us float64 `json:"scoped_p99_us"`
	RatioP50    float64 `json:"ratio_p50"`
	N           int     `json:"n"`
	Isolation   string  `json:"isolation"`
	// Opens counts the connections the scoped path opened in the measured
	// loop (a warm strict connection is reused: 0).
	Opens uint64 `json:"opens"`
}

func runScoped(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scoped", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 5000, "reads measured through each path")
	warmup := fs.Int("warmup", 500, "unmeasured reads through each path first")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured loop to this file")
	isolation := fs.String("isolation", "pooled", "isolation level of the tenant read: pooled or strict")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *warmup < 0 {
		return errors.New("scoped: -n >= 1 and -warmup >= 0 please")
	}
	level, err := tenants.ParseIsolation(*isolation)
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, cfg, stderr, nil)
	if err != nil {
		return err
	}
	defer e.close()
	const tenant = "scoped-read"
	const rows = 1000
	if err := e.addTenant(ctx, tenant, rows); err != nil {
		return err
	}
	if err := e.setIsolation(ctx, level, tenant); err != nil {
		return err
	}
	pc, err := pgxpool.ParseConfig(e.dataURL)
	if err != nil {
		return err
	}
	pc.MaxConns = benchPoolSize
	raw, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer raw.Close()
	rawSQL := "SELECT v FROM " + pgx.Identifier{"t_scoped_read", "items"}.Sanitize() + " WHERE id = $1"
	readRaw := func(id int) error {
		var v string
		return raw.QueryRow(ctx, rawSQL, id).Scan(&v)
	}
	readScoped := func(id int) error {
		var v string
		return e.pools.QueryRow(ctx, tenant, "SELECT v FROM items WHERE id = $1", id).Scan(&v)
	}
	for i := range *warmup {
		if err := readRaw(i%rows + 1); err != nil {
			return fmt.Errorf("raw read: %w", err)
		}
		if err := readScoped(i%rows + 1); err != nil {
			return fmt.Errorf("scoped read: %w", err)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	opensBefore := opens(e.pools)
	// Interleaved, one at a time, so both paths see the same machine.
	rawLat, scopedLat := make([]time.Duration, *n), make([]time.Duration, *n)
	for i := range *n {
		id := i%rows + 1
		t0 := time.Now()
		if err := readRaw(id); err != nil {
			return fmt.Errorf("raw read: %w", err)
		}
		t1 := time.Now()
		if err := readScoped(id); err != nil {
			return fmt.Errorf("scoped read: %w", err)
		}
		rawLat[i], scopedLat[i] = t1.Sub(t0), time.Since(t1)
	}
	r, s := sortedCopy(rawLat), sortedCopy(scopedLat)
	res := scopedResult{RawP50us: us(percentile(r, .5)), RawP99us: us(percentile(r, .99)),
		ScopedP50us: us(percentile(s, .5)), ScopedP99us: us(percentile(s, .99)), N: *n,
		Isolation: string(level), Opens: opens(e.pools) - opensBefore}
	res.RatioP50 = round(res.ScopedP50us / res.RawP50us)
	fmt.Fprintf(stderr, "scoped: %s single-row read p50/p99 raw %.1f/%.1f us, scoped %.1f/%.1f us, ratio p50 %.3f, %d connections opened\n",
		level, res.RawP50us, res.RawP99us, res.ScopedP50us, res.ScopedP99us, res.RatioP50, res.Opens)
	return printResult(stdout, res)
}
