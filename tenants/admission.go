package tenants

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// admission is the fair gate in front of one pgxpool: it hands out at most
// size slots (the pool's connections), so a granted caller finds a
// connection without queueing inside pgxpool. The rules:
//
//   - a tenant holds at most tenantCap slots;
//   - batch work holds at most size-reserve slots: the reserve is kept for
//     interactive work, so a short request never queues behind long jobs;
//   - when a slot frees, the waiter served next is interactive before
//     batch, then from the tenant holding the fewest slots, then one whose
//     login has a warm idle connection (a strict tenant that would
//     otherwise close another tenant's connection and open its own),
//     unless that tenant is already affinityLag grants ahead of the other,
//     then the longest waiting;
//   - a waiter gives up after the acquire deadline with a
//     *PoolExhaustedError.
type admission struct {
	pool      string
	size      int
	reserve   int
	tenantCap int
	timeout   time.Duration
	// warm reports whether a login has an idle connection; nil: none has.
	warm func(login string) bool

	mu            sync.Mutex
	inflight      int
	batchInflight int
	seq           uint64
	waiters       []*waiter
	tenants       map[string]*tenantLoad
	total         loadStats
	// holdEWMA is a moving average of how long slots are held, in
	// nanoseconds, for retry hints.
	holdEWMA float64
}

// tenantLoad is one tenant's share of a pool.
type tenantLoad struct {
	inflight int
	// grants counts the slots the tenant was given.
	grants uint64
	loadStats
}

// affinityLag is how many grants a tenant with a warm connection may be
// ahead of a tied tenant without one and still be served first: it bounds
// what connection affinity takes from fairness, while sparing most tenant
// switches of strict tenants (each costs a connection close and open).
const affinityLag = 32

// loadStats are the statistics kept per pool and per tenant.
type loadStats struct {
	waiting   int
	exhausted uint64
	wait      histogram
}

type waiter struct {
	tenant   string
	login    string
	priority Priority
	seq      uint64
	since    time.Time
	ready    chan struct{}
	granted  bool
}

type admissionConfig struct {
	pool      string
	size      int
	reserve   int
	tenantCap int
	timeout   time.Duration
	warm      func(login string) bool
}

func newAdmission(c admissionConfig) *admission {
	return &admission{
		pool: c.pool, size: c.size, reserve: c.reserve, tenantCap: c.tenantCap, timeout: c.timeout, warm: c.warm,
		tenants: map[string]*tenantLoad{},
	}
}

func (a *admission) load(tenant string) *tenantLoad {
	t := a.tenants[tenant]
	if t == nil {
		t = &tenantLoad{}
		a.tenants[tenant] = t
	}
	return t
}

// eligible reports whether a slot may go to tenant at priority p now.
func (a *admission) eligible(t *tenantLoad, p Priority) bool {
	if a.inflight >= a.size || t.inflight >= a.tenantCap {
		return false
	}
	return p == Interactive || a.batchInflight < a.size-a.reserve
}

func (a *admission) grant(t *tenantLoad, p Priority, waited time.Duration) {
	a.inflight++
	t.inflight++
	t.grants++
	if p == Batch {
		a.batchInflight++
	}
	a.total.wait.observe(waited)
	t.wait.observe(waited)
}

// acquire waits for a slot for tenant, whose connections log in as login,
// at priority p, at most the acquire deadline (or until ctx ends). On
// success the caller must call release.
func (a *admission) acquire(ctx context.Context, tenant, login string, p Priority) error {
	a.mu.Lock()
	t := a.load(tenant)
	// Waiters still queued are not eligible (dispatch grants every eligible
	// one), so an eligible newcomer jumps no one it should not.
	if a.eligible(t, p) {
		a.grant(t, p, 0)
		a.mu.Unlock()
		return nil
	}
	a.seq++
	w := &waiter{tenant: tenant, login: login, priority: p, seq: a.seq, since: time.Now(), ready: make(chan struct{})}
	a.waiters = append(a.waiters, w)
	t.waiting++
	a.total.waiting++
	a.mu.Unlock()

	timer := time.NewTimer(a.timeout)
	defer timer.Stop()
	var ctxErr error
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if w.granted { // granted while the timer fired: keep the slot.
		return nil
	}
	a.removeWaiter(w)
	waited := time.Since(w.since)
	if ctxErr != nil {
		return fmt.Errorf("tenants: acquire on pool %s after %s: %w", a.pool, waited.Round(time.Millisecond), ctxErr)
	}
	t.exhausted++
	a.total.exhausted++
	return &PoolExhaustedError{Pool: a.pool, TenantID: tenant, Waited: waited, RetryAfter: a.retryHint()}
}

// retryHint estimates when a slot may be free for a new request: the
// average hold time for every round of size requests ahead. Called with
// mu held.
func (a *admission) retryHint() time.Duration {
	hold := time.Duration(a.holdEWMA)
	if hold <= 0 {
		hold = 100 * time.Millisecond
	}
	rounds := 1 + len(a.waiters)/a.size
	return min(max(hold*time.Duration(rounds), 100*time.Millisecond), 30*time.Second)
}

func (a *admission) removeWaiter(w *waiter) {
	if i := slices.Index(a.waiters, w); i >= 0 {
		a.waiters = slices.Delete(a.waiters, i, i+1) // zeroes the freed tail
	}
	t := a.tenants[w.tenant]
	t.waiting--
	a.total.waiting--
}

// release returns a slot held for held by tenant at priority p and hands
// freed slots to the best eligible waiters.
func (a *admission) release(tenant string, p Priority, held time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[tenant]
	t.inflight--
	a.inflight--
	if p == Batch {
		a.batchInflight--
	}
	const alpha = 0.1
	if a.holdEWMA == 0 {
		a.holdEWMA = float64(held)
	} else {
		a.holdEWMA += alpha * (float64(held) - a.holdEWMA)
	}
	a.dispatch()
}

// dispatch grants slots while an eligible waiter exists. Called with mu
// held.
func (a *admission) dispatch() {
	for a.inflight < a.size && len(a.waiters) > 0 {
		best := -1
		var bestLoad *tenantLoad
		for i, w := range a.waiters {
			t := a.tenants[w.tenant]
			if !a.eligible(t, w.priority) {
				continue
			}
			if best < 0 || a.before(w, t, a.waiters[best], bestLoad) {
				best, bestLoad = i, t
			}
		}
		if best < 0 {
			return
		}
		w := a.waiters[best]
		a.removeWaiter(w)
		w.granted = true
		a.grant(bestLoad, w.priority, time.Since(w.since))
		close(w.ready)
	}
}

// before reports whether waiter w (of load t) goes before waiter v (of
// load u): interactive first, then fewer slots held, then a warm login
// (within affinityLag), then arrival order.
func (a *admission) before(w *waiter, t *tenantLoad, v *waiter, u *tenantLoad) bool {
	if w.priority != v.priority {
		return w.priority < v.priority
	}
	if t.inflight != u.inflight {
		return t.inflight < u.inflight
	}
	if a.warm != nil && w.login != v.login {
		if ww, vw := a.warm(w.login), a.warm(v.login); ww != vw {
			warm, cold := t, u
			if vw {
				warm, cold = u, t
			}
			if warm.grants < cold.grants+affinityLag {
				return ww
			}
			return vw
		}
	}
	return w.seq < v.seq
}

// snapshot copies the statistics of the pool and its tenants.
func (a *admission) snapshot() PoolStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := PoolStats{
		Pool: a.pool, Size: a.size, InFlight: a.inflight, Waiting: a.total.waiting,
		Exhausted: a.total.exhausted, AcquireWait: a.total.wait.snapshot(),
		Tenants: make(map[string]TenantStats, len(a.tenants)), TenantCap: a.tenantCap, Reserve: a.reserve,
	}
	for id, t := range a.tenants {
		s.Tenants[id] = TenantStats{InFlight: t.inflight, Waiting: t.waiting, Exhausted: t.exhausted, AcquireWait: t.wait.snapshot()}
	}
	return s
}

// idle reports whether nothing holds or waits for a slot.
func (a *admission) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight == 0 && len(a.waiters) == 0
}
