package tenants

import (
	"context"
	"testing"
	"time"
)

// staticSource serves one active route, so the benchmark measures the
// cache alone.
type staticSource struct{ r Route }

func (s staticSource) Route(context.Context, string) (Route, error) { return s.r, nil }

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

// BenchmarkAdmission measures an uncontended pass through the fair gate.
func BenchmarkAdmission(b *testing.B) {
	a := newTestAdmission(20, 1, 5, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.acquire(ctx, "acme-bank", Interactive); err != nil {
			b.Fatal(err)
		}
		a.release("acme-bank", Interactive, time.Microsecond)
	}
}
