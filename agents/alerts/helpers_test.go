package alerts_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// recorder is a sink that keeps what it is sent; fail decides, per call,
// what Send answers (nil: delivered).
type recorder struct {
	name    string
	handles func(alerts.Event) bool

	mu   sync.Mutex
	got  []alerts.Notification
	fail func(n alerts.Notification, call int) error
	call int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Handles(e alerts.Event) bool { return r.handles == nil || r.handles(e) }

func (r *recorder) Send(_ context.Context, n alerts.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.call++
	if r.fail != nil {
		if err := r.fail(n, r.call); err != nil {
			return err
		}
	}
	r.got = append(r.got, n)
	return nil
}

// events lists the events delivered, in order, as "event:dedup_key".
func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, string(n.Event)+":"+n.Alert.DedupKey)
	}
	return out
}

// fixture is an engine on a scratch control plane.
type fixture struct {
	pool   *pgxpool.Pool
	store  *controlplane.Store
	engine *alerts.Engine
	sink   *recorder
}

func setup(t *testing.T, mutate func(*alerts.Config)) *fixture {
	t.Helper()
	_, pool := cptest.Database(t)
	f := &fixture{pool: pool, store: controlplane.NewStore(pool), sink: &recorder{name: "rec"}}
	f.engine = newEngine(t, f.store, f.sink, mutate)
	return f
}

func newEngine(t *testing.T, store *controlplane.Store, sink alerts.Sink, mutate func(*alerts.Config)) *alerts.Engine {
	t.Helper()
	cfg := alerts.Config{
		Store: store, Sinks: []alerts.Sink{sink}, Fleet: "tf", RepeatInterval: time.Hour,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, Logger: cptest.DiscardLogger(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := alerts.New(cfg)
	if err != nil {
		t.Fatalf("alerts.New: %v", err)
	}
	return e
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustObserve(t *testing.T, e *alerts.Engine, c alerts.Condition, active bool) alerts.Outcome {
	t.Helper()
	out, err := e.Observe(ctxT(t), c, active)
	if err != nil {
		t.Fatalf("Observe(%s %s, %v): %v", c.Kind, c.Subject, active, err)
	}
	return out
}

func mustDeliver(t *testing.T, e *alerts.Engine) int {
	t.Helper()
	n, err := e.Deliver(ctxT(t))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	return n
}

// eventually retries fn until it reports true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isNotFound(err error) bool { return errors.Is(err, controlplane.ErrAlertNotFound) }
