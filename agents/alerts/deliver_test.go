package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func notifications(t *testing.T, f *fixture, alertID int64) []controlplane.AlertNotificationStatus {
	t.Helper()
	got, err := f.store.AlertNotifications(ctxT(t), alertID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A failing sink is retried with backoff until it takes the notification;
// the resolve waits for its trigger.
func TestDeliveryRetriesInOrder(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.sink.fail = func(_ alerts.Notification, call int) error {
		if call <= 2 {
			return fmt.Errorf("503 from the sink (call %d)", call)
		}
		return nil
	}
	out := mustObserve(t, f.engine, poolDown, true)
	mustObserve(t, f.engine, poolDown, false)
	if n := mustDeliver(t, f.engine); n != 0 {
		t.Fatalf("first pass delivered %d, want 0 (the sink fails)", n)
	}
	st := notifications(t, f, out.Alert.ID)
	if len(st) != 2 || st[0].Attempts != 1 || st[0].LastError == "" || st[1].Attempts != 0 {
		t.Fatalf("after a failed trigger: %+v; want the trigger retried and the resolve untouched", st)
	}
	eventually(t, 10*time.Second, "both delivered", func() bool {
		mustDeliver(t, f.engine)
		return len(f.sink.events()) == 2
	})
	if got := f.sink.events(); !equal(got, []string{"trigger:pool_exhausted:inst-1", "resolve:pool_exhausted:inst-1"}) {
		t.Fatalf("delivered %v", got)
	}
	st = notifications(t, f, out.Alert.ID)
	if st[0].Status != "sent" || st[0].Attempts != 3 || st[1].Status != "sent" {
		t.Fatalf("outbox: %+v", st)
	}
}

// A permanent refusal is given up at once and does not block the alert's
// later notifications; MaxAttempts bounds transient failures.
func TestDeliveryGivesUp(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *alerts.Config) { c.MaxAttempts = 2 })
	f.sink.fail = func(n alerts.Notification, _ int) error {
		switch n.Alert.Kind {
		case alerts.PoolExhausted:
			if n.Event == alerts.EventTrigger {
				return fmt.Errorf("400 invalid payload: %w", alerts.ErrPermanent)
			}
			return nil
		}
		return errors.New("always down")
	}
	pool := mustObserve(t, f.engine, poolDown, true)
	mustObserve(t, f.engine, poolDown, false)
	down := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-3"}, true)
	eventually(t, 10*time.Second, "settled", func() bool {
		mustDeliver(t, f.engine)
		st := notifications(t, f, down.Alert.ID)
		return st[0].Status == "failed"
	})
	if st := notifications(t, f, down.Alert.ID); st[0].Attempts != 2 {
		t.Errorf("transient failures: %+v, want given up after 2 attempts", st)
	}
	st := notifications(t, f, pool.Alert.ID)
	if st[0].Status != "failed" || st[0].Attempts != 1 || st[1].Status != "sent" {
		t.Fatalf("permanent failure: %+v, want the trigger failed after 1 attempt and the resolve sent", st)
	}
}

// A 429 holds the whole sink for Retry-After, in every process; the
// attempt is not counted against the notification.
func TestDeliveryHonoursRateLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	f.sink.fail = func(_ alerts.Notification, call int) error {
		if call == 1 {
			return &alerts.RateLimitedError{RetryAfter: time.Hour, Err: errors.New("429")}
		}
		return nil
	}
	a := mustObserve(t, f.engine, poolDown, true)
	b := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-3"}, true)
	if n := mustDeliver(t, f.engine); n != 0 {
		t.Fatalf("delivered %d under a 429", n)
	}
	if f.sink.call != 1 {
		t.Fatalf("the sink was called %d times, want 1: a 429 holds the rest", f.sink.call)
	}
	other := newEngine(t, controlplane.NewStore(openPool(t, f.pool.Config().ConnString())), f.sink, nil)
	if n := mustDeliver(t, other); n != 0 {
		t.Fatalf("another process delivered %d during the hold", n)
	}
	var held int
	if err := f.pool.QueryRow(ctxT(t), `SELECT count(*) FROM alert_notifications
		WHERE alert_id IN ($1, $2) AND status = 'pending' AND next_attempt_at > now() + interval '50 minutes'`,
		a.Alert.ID, b.Alert.ID).Scan(&held); err != nil || held != 2 {
		t.Fatalf("held notifications: %d, %v; want both held about an hour", held, err)
	}
}

// A deliverer that dies after claiming loses nothing: the lease runs out
// and another process delivers.
func TestCrashedDelivererLeaseExpires(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *alerts.Config) { c.SendTimeout = 200 * time.Millisecond })
	mustObserve(t, f.engine, poolDown, true)
	// The lease is long enough that the pass below runs inside it even on
	// a loaded machine.
	claimed, err := f.store.ClaimAlertNotifications(ctxT(t), []string{"rec"}, 10, 2*time.Second)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("crashed claim: %d, %v", len(claimed), err)
	}
	if n := mustDeliver(t, f.engine); n != 0 {
		t.Fatalf("delivered %d while the lease holds", n)
	}
	eventually(t, 20*time.Second, "delivered after the lease", func() bool { return mustDeliver(t, f.engine) == 1 })
}

// Start delivers in the background as soon as an observation notifies.
func TestStartDeliversAtOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *alerts.Config) { c.DeliveryInterval = time.Hour })
	if err := f.engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.engine.Stop()
	mustObserve(t, f.engine, poolDown, true)
	eventually(t, 10*time.Second, "the trigger delivered by the loop", func() bool { return len(f.sink.events()) == 1 })
	f.engine.Stop()
	f.engine.Stop()
	if err := f.engine.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}
