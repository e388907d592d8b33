package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// staticSource serves one active route, so the benchmark measures the
// cache alone.
type staticSource struct{ r Route }

func (s staticSource) Route(context.Context, string) (Route, error) { return s.r, nil }

func (s staticSource) RouteKey(context.Context) ([]byte, error) {
	return []byte("0123456789abcdef0123456789abcdef"), nil
}

// BenchmarkResolveWarm measures Resolve answered from the in-process cache
// (target: under 1 µs).
func BenchmarkResolveWarm(b *testing.B) {
	_, rdb := redisForBench(b)
	r, err := NewRouter(RouterConfig{Source: staticSource{Route{TenantID: "acme-bank", Tier: Shared, Status: TenantActive,
		InstanceID: "i1", Host: "127.0.0.1", Port: 5432, Database: "d", Schema: "t_acme_bank", Role: "tf_t_acme_bank", Version: 1}},
		Redis: rdb, Fleet: fleetName()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "acme-bank"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "acme-bank"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteCheck measures the check of a route hash read from Redis
// (parse, derived names, HMAC-SHA256): the cost a Redis hit adds; an
// in-process cache hit (BenchmarkResolveWarm) runs no check.
func BenchmarkRouteCheck(b *testing.B) {
	src := staticSource{Route{TenantID: "acme-bank", Tier: Shared, Status: TenantActive,
		InstanceID: "i1", Host: "127.0.0.1", Port: 5432, Database: "d", Schema: "t_acme_bank", Role: "tf_t_acme_bank", Version: 1}}
	key, _ := src.RouteKey(context.Background())
	m := routeMAC{fleet: "tf", key: key}
	kv := m.fields(src.r, time.Now().Add(time.Hour))
	h := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		h[kv[i].(string)] = kv[i+1].(string)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, reason := m.check(h, "acme-bank", now); reason != "" {
			b.Fatal(reason)
		}
	}
}

// BenchmarkAdmission measures an uncontended pass through the fair gate.
func BenchmarkAdmission(b *testing.B) {
	a := newTestAdmission(20, 1, 5, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.acquire(ctx, "acme-bank", "", Interactive); err != nil {
			b.Fatal(err)
		}
		a.release("acme-bank", Interactive, time.Microsecond)
	}
}

// BenchmarkRead compares one single-row read through a plain pgxpool
// (superuser, schema-qualified) with the same read through Pools.QueryRow
// (resolve, admission, scoping pipelined with the query). fleetbench
// scoped reports the same comparison as percentiles.
func BenchmarkRead(b *testing.B) {
	f := setup(b, nil)
	ctx := context.Background()
	f.addTenant(b, "bench-read")
	raw, err := pgxpool.New(ctx, f.adminURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			var v string
			if err := raw.QueryRow(ctx, "SELECT v FROM t_bench_read.items WHERE id = $1", 1).Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scoped", func(b *testing.B) {
		for b.Loop() {
			var v string
			if err := f.pools.QueryRow(ctx, "bench-read", "SELECT v FROM items WHERE id = $1", 1).Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
