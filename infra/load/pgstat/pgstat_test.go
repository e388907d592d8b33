package pgstat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/pgstat"
)

// setup returns a scratch database's URL and a pool to the server's
// maintenance database for the source.
func setup(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	base := cptest.ServerConfig(t).DatabaseURL
	dbURL := config.WithDatabase(base, cptest.ScratchDatabase(t))
	pool, err := pgxpool.New(t.Context(), config.WithDatabase(base, "postgres"))
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return dbURL, pool
}

func TestIdleDatabaseReadsZero(t *testing.T) {
	t.Parallel()
	dbURL, pool := setup(t)
	cfg, _ := pgx.ParseConfig(dbURL)
	src, err := pgstat.New(pgstat.Config{DB: pool, Cores: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r, err := src.Load(t.Context(), load.Target{ID: "i", Database: cfg.Database})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if r.CPUPercent != 0 || r.ReplicaLag != 0 || r.At.IsZero() {
		t.Errorf("idle: got %+v, want 0%% CPU, no lag, stamped", r)
	}
}

// TestActiveBackendsRaiseCPU parks backends on an advisory lock (active,
// waiting) and checks the CPU figure counts them per core.
func TestActiveBackendsRaiseCPU(t *testing.T) {
	t.Parallel()
	dbURL, pool := setup(t)
	cfg, _ := pgx.ParseConfig(dbURL)
	target := load.Target{ID: "i", Database: cfg.Database}
	src, err := pgstat.New(pgstat.Config{DB: pool, Cores: 4})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	// The holder keeps a transaction-level advisory lock; each waiter
	// blocks on it (state active) and, in autocommit, releases it as soon
	// as it gets it.
	holder := connect(t, dbURL)
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	const key = 7_770_001
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		t.Fatalf("lock: %v", err)
	}
	errs := make(chan error, 3)
	for range 3 {
		c := connect(t, dbURL)
		go func() {
			_, err := c.Exec(context.Background(), "SELECT pg_advisory_xact_lock($1)", key)
			errs <- err
		}()
	}

	// Wait, with a deadline, until the source sees all three waiting.
	r := waitFor(t, src, target, func(r load.Reading) bool { return r.CPUPercent >= 75 })
	if r.CPUPercent != 75 {
		t.Errorf("3 active backends on 4 cores: got %v%%, want 75%%", r.CPUPercent)
	}

	// The waiters set no application_name: ignoring "" hides them, as the
	// migration runner's own sessions are hidden by their name.
	ignoring, _ := pgstat.New(pgstat.Config{DB: pool, Cores: 4, IgnoreApplications: []string{""}})
	if r, _ := ignoring.Load(t.Context(), target); r.CPUPercent != 0 {
		t.Errorf("ignored application's backends: got %v%%, want 0%%", r.CPUPercent)
	}

	src1, _ := pgstat.New(pgstat.Config{DB: pool, Cores: 1})
	if r, _ := src1.Load(t.Context(), target); r.CPUPercent != 100 {
		t.Errorf("3 active backends on 1 core: got %v%%, want capped 100%%", r.CPUPercent)
	}

	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
	if r := waitFor(t, src, target, func(r load.Reading) bool { return r.CPUPercent == 0 }); r.CPUPercent != 0 {
		t.Errorf("after release: got %v%%, want 0%%", r.CPUPercent)
	}
}

// waitFor polls src until ok accepts a reading or 10 s pass, and returns
// the last reading.
func waitFor(t *testing.T, src *pgstat.Source, target load.Target, ok func(load.Reading) bool) load.Reading {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := src.Load(t.Context(), target)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if ok(r) {
			return r
		}
		select {
		case <-deadline:
			return r
		case <-tick.C:
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	_, pool := setup(t)
	src, _ := pgstat.New(pgstat.Config{DB: pool})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := src.Load(ctx, load.Target{ID: "i"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, load.ErrUnavailable) {
		t.Errorf("Load canceled: got %v, want context.Canceled, not ErrUnavailable", err)
	}
}

func TestNewRequiresDB(t *testing.T) {
	t.Parallel()
	if _, err := pgstat.New(pgstat.Config{}); err == nil {
		t.Errorf("New without DB: got nil error")
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}
