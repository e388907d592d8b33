package alerts_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

var poolDown = alerts.Condition{Kind: alerts.PoolExhausted, Subject: "inst-1", Instance: "inst-1",
	Summary: "pool inst-1: 12 waiters, 20/20 held", Details: map[string]any{"waiting": 12}}

// An alert fires once, repeats only after the repeat interval while it is
// still true, and resolves once when the condition clears.
func TestFiresOnceRepeatsAfterIntervalResolves(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *alerts.Config) { c.RepeatInterval = time.Second })
	first := mustObserve(t, f.engine, poolDown, true)
	if first.Notified != alerts.EventTrigger || first.Alert.Status != alerts.StatusFiring || first.Alert.Severity != alerts.Critical {
		t.Fatalf("first observation: %+v, want a critical trigger", first)
	}
	for range 5 {
		if out := mustObserve(t, f.engine, poolDown, true); out.Notified != "" || out.Alert.ID != first.Alert.ID {
			t.Fatalf("observation within the repeat interval notified %q (alert %d, want %d)", out.Notified, out.Alert.ID, first.Alert.ID)
		}
	}
	if n := mustDeliver(t, f.engine); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	var repeat alerts.Outcome
	eventually(t, 10*time.Second, "a repeat after the interval", func() bool {
		repeat = mustObserve(t, f.engine, poolDown, true)
		return repeat.Notified == alerts.EventRepeat
	})
	if gap := repeat.Alert.NotifiedAt.Sub(*first.Alert.NotifiedAt); gap < time.Second {
		t.Errorf("repeated %s after the trigger, want at least the 1s interval", gap)
	}
	cleared := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.PoolExhausted, Subject: "inst-1"}, false)
	if cleared.Notified != alerts.EventResolve || cleared.Alert.Status != alerts.StatusResolved {
		t.Fatalf("clear: %+v, want a resolve", cleared)
	}
	if again := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.PoolExhausted, Subject: "inst-1"}, false); again.Notified != "" || again.Alert.ID != 0 {
		t.Fatalf("clearing a clear condition: %+v, want nothing", again)
	}
	mustDeliver(t, f.engine)
	want := []string{"trigger:pool_exhausted:inst-1", "repeat:pool_exhausted:inst-1", "resolve:pool_exhausted:inst-1"}
	if got := f.sink.events(); !equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	// The next episode is a new alert with its own trigger; the old one is history.
	next := mustObserve(t, f.engine, poolDown, true)
	if next.Notified != alerts.EventTrigger || next.Alert.ID == first.Alert.ID {
		t.Fatalf("new episode: %+v, want a new alert triggering", next)
	}
	all, err := f.engine.List(ctxT(t), alerts.ListFilter{Kind: string(alerts.PoolExhausted)})
	if err != nil || len(all) != 2 || all[1].Status != alerts.StatusResolved || all[1].Notifications != 2 {
		t.Fatalf("history: %+v, %v; want the open alert and the resolved one notified twice", all, err)
	}
}

// A condition that clears before anybody was told resolves silently.
func TestClearOfMutedAlertSendsNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	if _, err := f.engine.Silence(ctxT(t), "inst-9", "", time.Hour, "maintenance", "ops"); err != nil {
		t.Fatal(err)
	}
	c := alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-9", Instance: "inst-9"}
	if out := mustObserve(t, f.engine, c, true); out.Notified != "" || !out.Silenced {
		t.Fatalf("silenced raise: %+v", out)
	}
	if out := mustObserve(t, f.engine, c, false); out.Notified != "" || out.Alert.Status != alerts.StatusResolved {
		t.Fatalf("clear of a never-notified alert: %+v", out)
	}
	if n := mustDeliver(t, f.engine); n != 0 {
		t.Fatalf("delivered %d, want 0", n)
	}
}

// An instance that is down inhibits its tenants' alerts, and its one
// incident lists the tenants it affects; once it is back, a tenant alert
// still true fires.
func TestInstanceDownInhibitsTenantAlerts(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	before := alerts.Condition{Kind: alerts.XIDAgeHigh, Subject: "acme", Tenant: "acme", Instance: "inst-1"}
	if out := mustObserve(t, f.engine, before, true); out.Notified != alerts.EventTrigger {
		t.Fatalf("tenant alert before the outage: %+v", out)
	}
	down := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.InstanceDown, Subject: "inst-1", Instance: "inst-1",
		Summary: "inst-1 does not answer", Affected: []string{"globex", "acme"}}, true)
	if down.Notified != alerts.EventTrigger {
		t.Fatalf("instance_down: %+v", down)
	}
	during := alerts.Condition{Kind: alerts.ConnectionsHigh, Subject: "initech", Tenant: "initech", Instance: "inst-1"}
	out := mustObserve(t, f.engine, during, true)
	if out.Notified != "" || !out.Inhibited || out.Alert.InhibitedBy != down.Alert.ID {
		t.Fatalf("tenant alert during the outage: %+v, want inhibited by %d", out, down.Alert.ID)
	}
	// A tenant on another instance is not inhibited.
	other := alerts.Condition{Kind: alerts.ConnectionsHigh, Subject: "umbrella", Tenant: "umbrella", Instance: "inst-2"}
	if o := mustObserve(t, f.engine, other, true); o.Notified != alerts.EventTrigger || o.Inhibited {
		t.Fatalf("tenant on another instance: %+v", o)
	}
	incident, err := f.engine.Get(ctxT(t), down.Alert.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme", "globex", "initech"}; !equal(incident.AffectedTenants, want) {
		t.Fatalf("incident lists %v, want %v", incident.AffectedTenants, want)
	}
	beforeNow, _ := f.engine.Get(ctxT(t), 1)
	if beforeNow.InhibitedBy != down.Alert.ID {
		t.Errorf("the tenant alert open before the outage is not inhibited: %+v", beforeNow)
	}
	// One instance_down incident, whatever the number of observations.
	for range 3 {
		if o := mustObserve(t, f.engine, alerts.Condition{Kind: alerts.InstanceDown, Subject: "inst-1", Instance: "inst-1"}, true); o.Notified != "" {
			t.Fatalf("instance_down observed again notified %q", o.Notified)
		}
	}
	mustObserve(t, f.engine, alerts.Condition{Kind: alerts.InstanceDown, Subject: "inst-1"}, false)
	if o := mustObserve(t, f.engine, during, true); o.Notified != alerts.EventTrigger || o.Inhibited {
		t.Fatalf("tenant alert after the instance is back: %+v, want a trigger", o)
	}
	mustDeliver(t, f.engine)
	// Each alert's notifications arrive in order; alerts among themselves
	// in outbox order, a resolve waiting one pass behind its trigger.
	want := []string{"trigger:xid_age_high:acme", "trigger:instance_down:inst-1", "trigger:connections_high:umbrella",
		"trigger:connections_high:initech", "resolve:instance_down:inst-1"}
	if got := f.sink.events(); !equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for _, n := range f.sink.got {
		if n.Event == alerts.EventTrigger && n.Alert.Kind == alerts.InstanceDown && !equal(n.Alert.AffectedTenants, []string{"acme", "globex", "initech"}) {
			t.Errorf("instance_down notification lists %v", n.Alert.AffectedTenants)
		}
	}
}

// An acknowledged alert is announced to the sinks, stops repeating, and
// can be acknowledged only while open.
func TestAcknowledge(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *alerts.Config) { c.RepeatInterval = time.Second })
	out := mustObserve(t, f.engine, poolDown, true)
	acked, err := f.engine.Ack(ctxT(t), out.Alert.ID, "alice")
	if err != nil || acked.AckedBy != "alice" || acked.AckedAt == nil {
		t.Fatalf("Ack: %+v, %v", acked, err)
	}
	if again, err := f.engine.Ack(ctxT(t), out.Alert.ID, "bob"); err != nil || again.AckedBy != "alice" {
		t.Fatalf("second Ack: %+v, %v; want the first acknowledgement kept", again, err)
	}
	time.Sleep(1100 * time.Millisecond) // past the repeat interval
	if o := mustObserve(t, f.engine, poolDown, true); o.Notified != "" {
		t.Fatalf("acknowledged alert notified %q after the repeat interval", o.Notified)
	}
	mustObserve(t, f.engine, poolDown, false)
	mustDeliver(t, f.engine)
	want := []string{"trigger:pool_exhausted:inst-1", "acknowledge:pool_exhausted:inst-1", "resolve:pool_exhausted:inst-1"}
	if got := f.sink.events(); !equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if _, err := f.engine.Ack(ctxT(t), out.Alert.ID, "carol"); !isNotFound(err) {
		t.Fatalf("Ack of a resolved alert: %v, want ErrAlertNotFound", err)
	}
	if _, err := f.engine.Ack(ctxT(t), 999999, "carol"); !isNotFound(err) {
		t.Fatalf("Ack of an unknown alert: %v, want ErrAlertNotFound", err)
	}
}

// A silence mutes its subject (as subject, instance or tenant) for its
// kind or every kind; bad silences are refused.
func TestSilence(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := ctxT(t)
	if _, err := f.engine.Silence(ctx, "acme", "", time.Hour, "bank holiday", "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Silence(ctx, "inst-7", alerts.CapacityHigh, time.Hour, "", "ops"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		c     alerts.Condition
		muted bool
	}{
		{alerts.Condition{Kind: alerts.XIDAgeHigh, Subject: "acme", Tenant: "acme", Instance: "inst-1"}, true},
		{alerts.Condition{Kind: alerts.PoolExhausted, Subject: "inst-1/acme", Tenant: "acme"}, true},
		{alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-7", Instance: "inst-7"}, true},
		{alerts.Condition{Kind: alerts.ConnectionsHigh, Subject: "inst-7", Instance: "inst-7"}, false},
		{alerts.Condition{Kind: alerts.XIDAgeHigh, Subject: "globex", Tenant: "globex", Instance: "inst-1"}, false},
	}
	for _, tc := range cases {
		out := mustObserve(t, f.engine, tc.c, true)
		if out.Silenced != tc.muted || (out.Notified == "") != tc.muted {
			t.Errorf("%s %s: %+v, want muted %v", tc.c.Kind, tc.c.Subject, out, tc.muted)
		}
	}
	list, err := f.engine.Silences(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Silences: %+v, %v", list, err)
	}
	for _, bad := range []struct {
		subject string
		kind    alerts.Kind
		d       time.Duration
	}{
		{"", "", time.Hour}, {"has space", "", time.Hour}, {"acme", "", 0}, {"acme", "", 100 * 24 * time.Hour},
		{"acme", "Bad-Kind", time.Hour}, {"acme\n", "", time.Hour},
	} {
		if _, err := f.engine.Silence(ctx, bad.subject, bad.kind, bad.d, "", "ops"); !errors.Is(err, alerts.ErrInvalid) {
			t.Errorf("Silence(%q, %q, %s): %v, want ErrInvalid", bad.subject, bad.kind, bad.d, err)
		}
	}
}

// A silence that ended lets an alert still firing notify at its next
// observation.
func TestSilenceEnds(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	if _, err := f.engine.Silence(ctxT(t), "inst-1", "", time.Second, "", "ops"); err != nil {
		t.Fatal(err)
	}
	if out := mustObserve(t, f.engine, poolDown, true); !out.Silenced {
		t.Fatalf("raise under the silence: %+v", out)
	}
	eventually(t, 10*time.Second, "the trigger once the silence ends", func() bool {
		return mustObserve(t, f.engine, poolDown, true).Notified == alerts.EventTrigger
	})
}

// Observations refused before anything is stored.
func TestObserveRejectsBadConditions(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	for _, c := range []alerts.Condition{
		{Kind: "", Subject: "x"},
		{Kind: "DROP TABLE", Subject: "x"},
		{Kind: alerts.PoolExhausted, Subject: ""},
		{Kind: alerts.PoolExhausted, Subject: "a b"},
		{Kind: alerts.PoolExhausted, Subject: "x", Severity: "page-everyone"},
		{Kind: alerts.PoolExhausted, Subject: "x", Tenant: "<@channel>\n"},
		{Kind: alerts.PoolExhausted, Subject: "x", Summary: string(make([]byte, 2000))},
		{Kind: alerts.InstanceDown, Subject: "x", Affected: []string{"ok", "not ok"}},
	} {
		if _, err := f.engine.Observe(ctxT(t), c, true); !errors.Is(err, alerts.ErrInvalid) {
			t.Errorf("Observe(%+v): %v, want ErrInvalid", c, err)
		}
	}
	if list, _ := f.engine.List(ctxT(t), alerts.ListFilter{}); len(list) != 0 {
		t.Fatalf("refused observations stored %d alerts", len(list))
	}
}

// Two fleet processes observing the same condition at once notify it
// once: the open alert is one row, and the row lock orders the decisions.
func TestTwoProcessesFireOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	url := f.pool.Config().ConnString()
	engines := []*alerts.Engine{f.engine}
	for range 2 {
		pool := openPool(t, url)
		engines = append(engines, newEngine(t, controlplane.NewStore(pool), f.sink, nil))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	notified := 0
	for round := range 10 {
		for _, e := range engines {
			wg.Go(func() {
				out, err := e.Observe(context.Background(), poolDown, true)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				if out.Notified != "" {
					mu.Lock()
					notified++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if notified != 1 {
		t.Fatalf("%d observations notified, want 1", notified)
	}
	for _, e := range engines {
		wg.Go(func() { _, _ = e.Deliver(context.Background()) })
	}
	wg.Wait()
	if got := f.sink.events(); !equal(got, []string{"trigger:pool_exhausted:inst-1"}) {
		t.Fatalf("delivered %v, want one trigger", got)
	}
	open, err := f.engine.List(ctxT(t), alerts.ListFilter{OpenOnly: true})
	if err != nil || len(open) != 1 {
		t.Fatalf("open alerts: %d, %v; want 1", len(open), err)
	}
}
