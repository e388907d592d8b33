package provision

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// slowStep blocks the saga after step until release is closed, counting
// the runs that got there.
type slowStep struct {
	step     string
	armed    atomic.Bool
	entries  atomic.Int32
	entered  chan struct{}
	release  chan struct{}
	once     sync.Once
	released sync.Once
}

func newSlowStep(step string) *slowStep {
	s := &slowStep{step: step, entered: make(chan struct{}), release: make(chan struct{})}
	s.armed.Store(true)
	return s
}

func (s *slowStep) hook(step string) error {
	if step != s.step || !s.armed.Load() {
		return nil
	}
	s.entries.Add(1)
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return nil
}

func (s *slowStep) let() { s.released.Do(func() { close(s.release) }) }

func (s *slowStep) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-s.entered:
	case <-time.After(60 * time.Second):
		t.Fatalf("no onboarding reached step %s", s.step)
	}
}

// TestOnboardRunsOnceWhileCopiesCompete runs one onboarding whose migrate
// step outlasts the lease TTL several times, and meanwhile starts two more
// copies of it: the same request handled directly, and the reconciler's
// re-enqueue of its task after Redis was wiped. The lease is renewed, the
// copies find the tenant busy and wait, and the tenant is onboarded once:
// one run reaches the slow step, one tenant.provision done entry, one
// "tenant onboarded" line.
func TestOnboardRunsOnceWhileCopiesCompete(t *testing.T) {
	slow := newSlowStep(StepMigrate)
	const ttl = time.Second
	e := setup(t, withWait, func(c *Config) {
		c.LeaseTTL = ttl
		c.WaitRetryDelay = 50 * time.Millisecond
		c.afterStep = slow.hook
	})
	e.startWorker(4)
	t.Cleanup(slow.let) // before the worker stops
	acc := e.submit("twice", tenants.Shared)
	slow.waitEntered(t)

	// The lease outlives its first expiry: it is renewed while the step
	// runs, by the same attempt.
	var until time.Time
	var token string
	if err := e.db.QueryRow(e.ctx, `SELECT until, token FROM provision_leases WHERE tenant_id = 'twice'`).Scan(&until, &token); err != nil {
		t.Fatal(err)
	}
	eventually.True(e.t, 30*time.Second, "the lease to outlive its first expiry", func() bool {
		var past bool
		var tok string
		err := e.db.QueryRow(e.ctx, `SELECT now() > $1, token FROM provision_leases WHERE tenant_id = 'twice'`, until).Scan(&past, &tok)
		if err == nil && tok != token {
			t.Fatalf("lease taken over by another attempt while the first works")
		}
		return err == nil && past
	})

	// A second copy of the same request, handled directly.
	direct := make(chan error, 1)
	go func() {
		direct <- e.agent.HandleOnboard(queue.WithLogger(e.ctx, e.taskLogger()), onboardTask(t, acc))
	}()
	var directErr error
	directDone := false
	eventually.True(e.t, 30*time.Second, "the direct copy to return (or to run the saga)", func() bool {
		select {
		case directErr = <-direct:
			directDone = true
		default:
		}
		return directDone || slow.entries.Load() > 1
	})
	if directDone && (!errors.Is(directErr, ErrBusy) || !errors.As(directErr, new(*queue.NotReadyError))) {
		t.Errorf("direct copy: got %v, want a NotReady ErrBusy", directErr)
	}

	// Redis wiped mid-run: the reconciler enqueues the task id again and a
	// worker runs that copy while the first one still works.
	if err := e.rdb.FlushDB(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.intake.Reconcile(e.ctx); err != nil || n != 1 {
		t.Fatalf("Reconcile after the wipe: got %d, %v; want 1", n, err)
	}
	eventually.True(e.t, 30*time.Second, "the re-enqueued copy to be turned away (or to run the saga)", func() bool {
		info, err := e.queue.Lookup(e.ctx, queue.QueueCritical, acc.TaskID)
		return slow.entries.Load() > 1 || (err == nil && info.State == asynq.TaskStateRetry && strings.Contains(info.LastErr, "busy"))
	})

	slow.let()
	wctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	if rec, err := e.intake.Wait(wctx, acc.RequestID); err != nil || rec.Status != intake.StatusDone {
		t.Fatalf("request: got %s, %v; want done", rec.Status, err)
	}
	eventually.True(e.t, 60*time.Second, "the re-enqueued copy to complete", func() bool {
		info, err := e.queue.Lookup(e.ctx, queue.QueueCritical, acc.TaskID)
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if !directDone {
		// It ran the saga alongside the first copy (the failure counted
		// below); let it finish.
		select {
		case directErr = <-direct:
			t.Logf("direct copy, run alongside: %v", directErr)
		case <-time.After(60 * time.Second):
			t.Fatal("direct copy never returned")
		}
	}
	if got := slow.entries.Load(); got != 1 {
		t.Errorf("runs that reached the %s step: got %d, want 1", StepMigrate, got)
	}
	if got := e.provisionDone("twice"); got != 1 {
		t.Errorf("tenant.provision done entries: got %d, want 1", got)
	}
	if got := countLines(e.logs.String(), `"msg":"tenant onboarded"`, `"tenant":"twice"`); got != 1 {
		t.Errorf(`"tenant onboarded" lines: got %d, want 1`, got)
	}
	var leases int
	if err := e.db.QueryRow(e.ctx, `SELECT count(*) FROM provision_leases WHERE tenant_id = 'twice'`).Scan(&leases); err != nil || leases != 0 {
		t.Errorf("leases left: got %d (%v), want 0", leases, err)
	}
}

// TestLostLeaseStopsTheWork: when another attempt takes the lease over,
// or the control plane stops renewing it, the renewal cancels the work: a
// statement blocked mid-saga is interrupted, nothing after it runs, and the
// release leaves a new holder's lease alone.
func TestLostLeaseStopsTheWork(t *testing.T) {
	tests := []struct {
		name string
		// lose makes the lease lost; tx holds the saga's progress row.
		lose func(e *env, tx pgx.Tx) error
		want string
	}{
		{"taken over", func(e *env, _ pgx.Tx) error {
			_, err := e.db.Exec(e.ctx, `UPDATE provision_leases SET owner = 'thief', token = 'thief',
				until = now() + interval '1 hour' WHERE tenant_id = 'victim'`)
			return err
		}, "taken over"},
		{"not renewable", func(e *env, tx pgx.Tx) error {
			_, err := tx.Exec(e.ctx, `SELECT 1 FROM provision_leases WHERE tenant_id = 'victim' FOR UPDATE`)
			return err
		}, "not renewed in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slow := newSlowStep(StepEnsure)
			slow.armed.Store(false)
			e := setup(t, func(c *Config) {
				// Short enough that "not renewable" ends soon, long enough
				// that renewals (every TTL/3) keep up on a loaded machine:
				// at 300ms, "taken over" sometimes lost the lease to a
				// renewal timeout first.
				c.LeaseTTL = 2 * time.Second
				c.afterStep = slow.hook
			})
			t.Cleanup(slow.let)
			e.onboard("warmup", tenants.Shared)
			acc := e.submit("victim", tenants.Shared)
			slow.armed.Store(true)
			result := make(chan error, 1)
			go func() { result <- e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)) }()
			slow.waitEntered(t)
			slow.armed.Store(false)

			// The test holds the progress row, so the saga's next step
			// write blocks; then the lease is lost.
			tx, err := e.db.Begin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(e.ctx) }()
			if _, err := tx.Exec(e.ctx, `SELECT 1 FROM tenant_onboarding WHERE tenant_id = 'victim' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			if err := tt.lose(e, tx); err != nil {
				t.Fatal(err)
			}
			slow.let()
			select {
			case err = <-result:
			case <-time.After(60 * time.Second):
				t.Fatal("the saga went on blocked after its lease was lost")
			}
			if !errors.Is(err, ErrLeaseLost) || !errors.As(err, new(*queue.NotReadyError)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a NotReady ErrLeaseLost, %s", err, tt.want)
			}
			if err := tx.Rollback(e.ctx); err != nil {
				t.Fatal(err)
			}
			if p, err := e.agent.Progress(e.ctx, "victim"); err != nil || p.Step != StepEnsure {
				t.Errorf("progress: got %+v, %v; want stopped after %s", p, err, StepEnsure)
			}
			if got := e.tenantStatus("victim"); got != tenants.TenantProvisioning {
				t.Errorf("tenant: got %s, want provisioning", got)
			}
			if got := e.provisionDone("victim"); got != 0 {
				t.Errorf("tenant.provision done entries: got %d, want 0", got)
			}
			if tt.name == "taken over" {
				var owner string
				if err := e.db.QueryRow(e.ctx, `SELECT owner FROM provision_leases WHERE tenant_id = 'victim'`).Scan(&owner); err != nil || owner != "thief" {
					t.Errorf("lease after release: got %q, %v; want the thief's, untouched", owner, err)
				}
			}

			// Once the lease expires, the next attempt finishes.
			if _, err := e.db.Exec(e.ctx, `UPDATE provision_leases SET until = now() - interval '1 second' WHERE tenant_id = 'victim'`); err != nil {
				t.Fatal(err)
			}
			if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err != nil {
				t.Fatalf("next attempt: %v", err)
			}
			if rec, _ := e.intake.Get(e.ctx, acc.RequestID); rec.Status != intake.StatusDone {
				t.Errorf("request: got %s, want done", rec.Status)
			}
			if got := e.provisionDone("victim"); got != 1 {
				t.Errorf("tenant.provision done entries: got %d, want 1", got)
			}
		})
	}
}

func TestLeaseTTLValidated(t *testing.T) {
	e := setup(t)
	cfg := e.cfg
	cfg.LeaseTTL = time.Millisecond
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "LeaseTTL") {
		t.Errorf("LeaseTTL 1ms: got %v, want an error naming LeaseTTL", err)
	}
}
