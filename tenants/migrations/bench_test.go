package migrations

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// benchFleet is a scratch database for many throw-away tenants. Their roles
// are dropped in bulk after the database is gone.
type benchFleet struct {
	instance
	roles []string
}

func newBenchFleet(b *testing.B, maxConns int32) *benchFleet {
	b.Helper()
	f := &benchFleet{}
	// Registered first, so it runs last: after the database (and every
	// object the roles own) is dropped.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, config.WithDatabase(cptest.ServerConfig(b).DatabaseURL, "postgres"))
		if err != nil {
			b.Errorf("drop roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		for chunk := range slicesChunk(f.roles, 500) {
			if _, err := conn.Exec(ctx, "DROP ROLE "+strings.Join(chunk, ", ")); err != nil {
				b.Errorf("drop roles: %v", err)
			}
		}
	})
	f.instance = setup(b, maxConns)
	return f
}

// tenants creates n fresh tenants in one round trip.
func (f *benchFleet) tenants(b *testing.B, n int) []Target {
	b.Helper()
	var ddl strings.Builder
	out := make([]Target, n)
	for i := range out {
		out[i] = Target{Schema: cptest.UniqueName("t_"), Role: cptest.UniqueName("tf_mig_")}
		role := pgx.Identifier{out[i].Role}.Sanitize()
		f.roles = append(f.roles, role)
		ddl.WriteString("CREATE ROLE " + role + " LOGIN; CREATE SCHEMA " + pgx.Identifier{out[i].Schema}.Sanitize() + " AUTHORIZATION " + role + ";\n")
	}
	if _, err := f.pool.Exec(context.Background(), ddl.String()); err != nil {
		b.Fatalf("create tenants: %v", err)
	}
	return out
}

func slicesChunk(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// BenchmarkUpSerial migrates one fresh tenant to the latest version per
// iteration, one at a time.
func BenchmarkUpSerial(b *testing.B) {
	f := newBenchFleet(b, 4)
	m := newMigrator(b, Config{})
	ctx := context.Background()
	tenants := 0
	for b.Loop() {
		b.StopTimer()
		tg := f.tenants(b, 1)[0]
		b.StartTimer()
		if _, err := m.Up(ctx, f.as(b, tg), tg); err != nil {
			b.Fatalf("Up: %v", err)
		}
		tenants++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(tenants), "ms/tenant")
}

// BenchmarkUpParallel5 is the fleet runner's shape: each iteration migrates
// five fresh tenants of one database to the latest version at once. Its
// ms/tenant is wall time, so 1,000 tenants take about ms/tenant seconds.
// For a full rollout: -bench UpParallel5 -benchtime 200x.
func BenchmarkUpParallel5(b *testing.B) {
	const parallel = 5
	f := newBenchFleet(b, parallel+2)
	m := newMigrator(b, Config{})
	ctx := context.Background()
	tenants := 0
	var slowest time.Duration
	for b.Loop() {
		b.StopTimer()
		batch := f.tenants(b, parallel)
		b.StartTimer()
		var wg sync.WaitGroup
		results := make([]Result, parallel)
		errs := make([]error, parallel)
		for i, tg := range batch {
			pool := f.as(b, tg)
			wg.Go(func() { results[i], errs[i] = m.Up(ctx, pool, tg) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				b.Fatalf("Up %s: %v", batch[i].Schema, err)
			}
			slowest = max(slowest, results[i].Duration)
		}
		tenants += parallel
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(tenants), "ms/tenant")
	b.ReportMetric(float64(slowest.Microseconds())/1000, "ms-slowest-run")
}
