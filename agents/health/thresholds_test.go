package health

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// assertOneAlert fails unless kind on subject has exactly one alert, in
// status, notified once.
func (e *env) assertOneAlert(t *testing.T, kind alerts.Kind, subject string, status string) {
	t.Helper()
	list := e.alertsOf(t, kind, subject)
	if len(list) != 1 || list[0].Status != status || list[0].Notifications != 1 {
		t.Fatalf("%s alerts on %s = %+v, want one %s notified once", kind, subject, list, status)
	}
}

// connections_high on a private server whose sessions are the test's own:
// quiet below the ratio, fires once when extra sessions take the server
// past it (a second sweep does not repeat it), and resolves when they
// close.
func TestSweepConnectionsHigh(t *testing.T) {
	e := setup(t, setupOpts{tenants: 1,
		cluster: &pgtest.Options{Settings: map[string]string{"max_connections": "40", "autovacuum": "off"}},
		cfg:     func(c *Config) { c.ConnectionsHigh = 0.5 }})
	rep := e.sweep(t)
	base, limit := rep.Instance.ServerConnections, rep.Instance.MaxConnections
	if limit != 40 || base == 0 || base >= limit/2 {
		t.Fatalf("instance health = %+v, want max_connections 40 and fewer than 20 sessions", rep.Instance)
	}
	if list := e.alertsOf(t, alerts.ConnectionsHigh, e.inst.ID); len(list) != 0 {
		t.Fatalf("connections_high below the ratio: %+v", list)
	}

	ctx := testContext(t)
	var extra []*pgx.Conn
	closeAll := func() {
		for _, c := range extra {
			_ = c.Close(ctx)
		}
		extra = nil
	}
	t.Cleanup(closeAll)
	for range limit/2 - base {
		c, err := pgx.ConnectConfig(ctx, e.admin.Config().ConnConfig.Copy())
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, c)
	}
	for range 2 {
		if rep = e.sweep(t); rep.Instance.ServerConnections < limit/2 {
			t.Fatalf("server connections = %d, want at least %d", rep.Instance.ServerConnections, limit/2)
		}
	}
	e.assertOneAlert(t, alerts.ConnectionsHigh, e.inst.ID, alerts.StatusFiring)

	closeAll()
	// A closed session leaves pg_stat_activity once its backend exits.
	if err := eventually(30*time.Second, func() bool {
		e.sweep(t)
		return e.alertsOf(t, alerts.ConnectionsHigh, e.inst.ID)[0].Status == alerts.StatusResolved
	}); err != nil {
		t.Fatalf("connections_high after the sessions closed = %+v", e.alertsOf(t, alerts.ConnectionsHigh, e.inst.ID))
	}
	if rep = e.sweep(t); rep.Instance.ServerConnections >= limit/2 {
		t.Fatalf("server connections after close = %d", rep.Instance.ServerConnections)
	}
	e.assertOneAlert(t, alerts.ConnectionsHigh, e.inst.ID, alerts.StatusResolved)
}

// capacity_high along the tenants dimension of an instance that holds 3:
// two tenants (2/3) are below the 0.9 threshold, a third fills it and
// fires once, and one leaving (no longer active) resolves it.
func TestSweepCapacityHigh(t *testing.T) {
	e := setup(t, setupOpts{tenants: 2,
		instance: func(i *controlplane.Instance) { i.MaxTenants = 3 },
		cfg:      func(c *Config) { c.CapacityHigh = 0.9 }})
	rep := e.sweep(t)
	if r := rep.Instance.CapacityRatio; r < 2.0/3-1e-9 || r >= 0.9 {
		t.Fatalf("capacity ratio with 2 of 3 tenants = %v", r)
	}
	if list := e.alertsOf(t, alerts.CapacityHigh, e.inst.ID); len(list) != 0 {
		t.Fatalf("capacity_high below the threshold: %+v", list)
	}

	e.addTenant(t, "tenant-002")
	for range 2 {
		if rep = e.sweep(t); rep.Instance.CapacityRatio < 1 {
			t.Fatalf("capacity ratio with 3 of 3 tenants = %v", rep.Instance.CapacityRatio)
		}
	}
	e.assertOneAlert(t, alerts.CapacityHigh, e.inst.ID, alerts.StatusFiring)

	if _, err := e.store.SetTenantStatus(testContext(t), "tenant-002", tenants.TenantOffboarding, "test"); err != nil {
		t.Fatal(err)
	}
	if rep = e.sweep(t); rep.Instance.CapacityRatio >= 0.9 {
		t.Fatalf("capacity ratio after a tenant left = %v", rep.Instance.CapacityRatio)
	}
	e.assertOneAlert(t, alerts.CapacityHigh, e.inst.ID, alerts.StatusResolved)
}
