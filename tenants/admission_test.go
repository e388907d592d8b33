package tenants

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

func newTestAdmission(size, reserve, tenantCap int, timeout time.Duration) *admission {
	return newAdmission(admissionConfig{pool: "test", size: size, reserve: reserve, tenantCap: tenantCap, timeout: timeout})
}

// queue starts an acquire in the background and waits until it is queued;
// the returned channel yields its result.
func queue(t *testing.T, a *admission, tenant string, p Priority) <-chan error {
	t.Helper()
	before := a.snapshot().Waiting
	ch := make(chan error, 1)
	go func() { ch <- a.acquire(WithPriority(context.Background(), p), tenant, tenant, p) }()
	eventually.True(t, 5*time.Second, "waiter queued", func() bool { return a.snapshot().Waiting == before+1 })
	return ch
}

// granted reports whether the acquire behind ch succeeded; call it once
// the admission state says it was served (its goroutine may still be
// returning, so it waits a bounded time).
func granted(ch <-chan error) bool {
	select {
	case err := <-ch:
		return err == nil
	case <-time.After(5 * time.Second):
		return false
	}
}

// pending reports whether the acquire behind ch (buffered, written once)
// is still waiting.
func pending(ch <-chan error) bool { return len(ch) == 0 }

func mustAcquire(t *testing.T, a *admission, tenant string, p Priority) {
	t.Helper()
	if err := a.acquire(context.Background(), tenant, tenant, p); err != nil {
		t.Fatalf("acquire %s: %v", tenant, err)
	}
}

// TestFairOrderFewestInFlightFirst: when a slot frees, the tenant holding
// fewer slots is served before a tenant that holds more, even if the
// latter queued first.
func TestFairOrderFewestInFlightFirst(t *testing.T) {
	t.Parallel()
	a := newTestAdmission(3, 0, 3, time.Minute)
	for range 3 {
		mustAcquire(t, a, "greedy", Batch)
	}
	greedyWaits := queue(t, a, "greedy", Batch)
	quietWaits := queue(t, a, "quiet", Batch)
	a.release("greedy", Batch, time.Millisecond)
	eventually.True(t, 5*time.Second, "a waiter served", func() bool { return a.snapshot().Waiting == 1 })
	if !pending(greedyWaits) || !granted(quietWaits) {
		t.Fatalf("got greedy served first, want quiet (0 in flight) before greedy (2 in flight)")
	}
	a.release("greedy", Batch, time.Millisecond)
	if err := <-greedyWaits; err != nil {
		t.Fatalf("greedy: %v", err)
	}
}

func TestInteractiveBeforeBatchAndReserve(t *testing.T) {
	t.Parallel()
	a := newTestAdmission(3, 1, 3, time.Minute)
	mustAcquire(t, a, "jobs", Batch)
	mustAcquire(t, a, "jobs", Batch)
	// The third slot is reserved: batch waits although it is free...
	batchWaits := queue(t, a, "jobs", Batch)
	// ...and interactive work takes it at once.
	mustAcquire(t, a, "web", Interactive)
	// Pool full: an interactive request queued after the batch one is
	// served first.
	webWaits := queue(t, a, "web2", Interactive)
	a.release("jobs", Batch, time.Millisecond)
	eventually.True(t, 5*time.Second, "a waiter served", func() bool { return a.snapshot().Waiting == 1 })
	if !pending(batchWaits) || !granted(webWaits) {
		t.Fatal("got batch served first, want interactive")
	}
	a.release("web", Interactive, time.Millisecond)
	if err := <-batchWaits; err != nil {
		t.Fatalf("batch: %v", err)
	}
}

func TestTenantCap(t *testing.T) {
	t.Parallel()
	a := newTestAdmission(4, 0, 2, time.Minute)
	mustAcquire(t, a, "capped", Interactive)
	mustAcquire(t, a, "capped", Interactive)
	third := queue(t, a, "capped", Interactive)
	mustAcquire(t, a, "other", Interactive) // free slots go to others meanwhile
	if !pending(third) {
		t.Fatal("a third slot went to a tenant capped at 2")
	}
	a.release("capped", Interactive, time.Millisecond)
	if err := <-third; err != nil {
		t.Fatal(err)
	}
}

func TestAdmissionDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	a := newTestAdmission(1, 0, 1, timeout)
	mustAcquire(t, a, "holder", Interactive)
	err := a.acquire(context.Background(), "late", "late", Interactive)
	var pe *PoolExhaustedError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("got %v, want *PoolExhaustedError", err)
	}
	if pe.Waited < timeout || pe.RetryAfter <= 0 || pe.Pool != "test" {
		t.Errorf("got %+v, want Waited >= %s and a retry hint", pe, timeout)
	}
	s := a.snapshot()
	if s.Exhausted != 1 || s.Tenants["late"].Exhausted != 1 || s.Waiting != 0 {
		t.Errorf("got %+v, want one exhaustion and nobody waiting", s)
	}
	// A cancelled context is not an exhaustion.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.acquire(ctx, "late", "late", Interactive); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestWarmLoginBreaksTiesWithinLag: between waiters of tenants holding as
// many slots, one whose login has a warm idle connection goes first even if
// it queued later, unless its tenant is affinityLag grants ahead; fewer
// slots held and interactive priority still come first.
func TestWarmLoginBreaksTiesWithinLag(t *testing.T) {
	t.Parallel()
	a := newAdmission(admissionConfig{pool: "test", size: 4, tenantCap: 4, timeout: time.Minute,
		warm: func(login string) bool { return login == "warm" }})
	cold := &waiter{tenant: "cold", login: "cold", priority: Batch, seq: 1}
	warm := &waiter{tenant: "warm", login: "warm", priority: Batch, seq: 2}
	for _, tc := range []struct {
		name               string
		coldLoad, warmLoad tenantLoad
		warmFirst          bool
	}{
		{"tie, warm within the lag", tenantLoad{inflight: 1, grants: 100}, tenantLoad{inflight: 1, grants: 100 + affinityLag - 1}, true},
		{"tie, warm beyond the lag", tenantLoad{inflight: 1, grants: 100}, tenantLoad{inflight: 1, grants: 100 + affinityLag}, false},
		{"cold holds fewer", tenantLoad{inflight: 0}, tenantLoad{inflight: 1}, false},
		{"warm holds fewer", tenantLoad{inflight: 2}, tenantLoad{inflight: 1}, true},
	} {
		if got := a.before(warm, &tc.warmLoad, cold, &tc.coldLoad); got != tc.warmFirst {
			t.Errorf("%s: warm before cold = %v, want %v", tc.name, got, tc.warmFirst)
		}
		if got := a.before(cold, &tc.coldLoad, warm, &tc.warmLoad); got == tc.warmFirst {
			t.Errorf("%s: cold before warm = %v, want %v", tc.name, got, !tc.warmFirst)
		}
	}
	interactive := &waiter{tenant: "cold", login: "cold", priority: Interactive, seq: 3}
	if !a.before(interactive, &tenantLoad{inflight: 3}, warm, &tenantLoad{}) {
		t.Error("a warm batch waiter went before an interactive one")
	}
}
