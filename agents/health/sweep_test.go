package health

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// A healthy instance: up, its shared-pool sessions attributed to their
// tenants by application_name, every tenant's catalog as provisioned; a
// tenant role given CREATEDB is reported and alerted, and resolved once
// repaired.
func TestSweepAttributesAndChecksCatalog(t *testing.T) {
	e := setup(t, setupOpts{tenants: 3})
	release, done := e.holdTx(t, "tenant-001", "SELECT count(*) FROM items")
	rep := e.sweep(t)
	release()
	if err := <-done; err != nil {
		t.Fatalf("held transaction: %v", err)
	}
	if !rep.Instance.Up || rep.Instance.MaxConnections == 0 || rep.Instance.Connections == 0 {
		t.Fatalf("instance health = %+v, want up with connections", rep.Instance)
	}
	if len(rep.Tenants) != 3 {
		t.Fatalf("tenants = %d, want 3", len(rep.Tenants))
	}
	for _, th := range rep.Tenants {
		want := 0
		if th.TenantID == "tenant-001" {
			want = 1
		}
		if th.Connections != want || !th.CatalogOK {
			t.Errorf("tenant %s = %+v, want %d connections and catalog ok", th.TenantID, th, want)
		}
	}
	stored, err := e.store.ListTenantHealth(testContext(t), controlplane.TenantHealthFilter{TenantID: "tenant-001"})
	if err != nil || len(stored) != 1 || stored[0].Connections != 1 {
		t.Fatalf("stored tenant health = %+v, %v", stored, err)
	}

	names, _ := tenants.NamesFor(e.fleet, "tenant-002")
	if _, err := e.admin.Exec(testContext(t), "ALTER ROLE "+names.Role+" CREATEDB"); err != nil {
		t.Fatal(err)
	}
	rep = e.sweep(t)
	drift := e.alertsOf(t, CatalogDrift, "tenant-002")
	if len(drift) != 1 || drift[0].Status != alerts.StatusFiring || drift[0].Tenant != "tenant-002" {
		t.Fatalf("catalog drift alerts = %+v, want one firing", drift)
	}
	if i := slices.IndexFunc(rep.Tenants, func(th controlplane.TenantHealth) bool { return th.TenantID == "tenant-002" }); i < 0 ||
		rep.Tenants[i].CatalogOK || !slices.Contains(rep.Tenants[i].Problems, "role has attributes beyond a plain role") {
		t.Fatalf("tenant-002 health = %+v", rep.Tenants)
	}
	if _, err := e.admin.Exec(testContext(t), "ALTER ROLE "+names.Role+" NOCREATEDB"); err != nil {
		t.Fatal(err)
	}
	e.sweep(t)
	if drift := e.alertsOf(t, CatalogDrift, "tenant-002"); len(drift) != 1 || drift[0].Status != alerts.StatusResolved {
		t.Fatalf("catalog drift alerts after repair = %+v, want one resolved", drift)
	}
	hs, err := e.store.ListInstanceHealth(testContext(t), e.inst.ID)
	if err != nil || len(hs) != 1 || !hs[0].Up {
		t.Fatalf("stored instance health = %+v, %v", hs, err)
	}
}

// A shared-pool session idle in its transaction past the timeout is
// terminated, recorded with its tenant and alerted; the next sweep, finding
// nothing, resolves the alert. A fresh idle transaction is left alone.
func TestSweepDrainsIdleInTransaction(t *testing.T) {
	e := setup(t, setupOpts{tenants: 2, cfg: func(c *Config) { c.IdleInTxTimeout = time.Second }})
	proceed := make(chan struct{}, 1)
	done := e.holdUntil(t, "tenant-000", "SELECT 1 FROM items", proceed)
	time.Sleep(1500 * time.Millisecond)
	young, youngDone := e.holdTx(t, "tenant-001", "")

	rep := e.sweep(t)
	if len(rep.Drained) != 1 || rep.Drained[0].TenantID != "tenant-000" || rep.Drained[0].IdleSeconds < 1 {
		t.Fatalf("drained = %+v, want tenant-000's session", rep.Drained)
	}
	select {
	case err := <-youngDone:
		t.Fatalf("the young transaction ended: %v", err)
	default:
	}
	young()
	if err := <-youngDone; err != nil {
		t.Fatalf("young transaction: %v", err)
	}
	proceed <- struct{}{}
	if err := <-done; err == nil {
		t.Fatal("the terminated transaction committed")
	}
	drains, err := e.store.ListDrains(testContext(t), e.inst.ID, 10)
	if err != nil || len(drains) != 1 || drains[0].PID != rep.Drained[0].PID || drains[0].TenantID != "tenant-000" {
		t.Fatalf("recorded drains = %+v, %v", drains, err)
	}
	subject := e.inst.ID + "/tenant-000"
	if a := e.alertsOf(t, alerts.IdleInTransactionTerminated, subject); len(a) != 1 || a[0].Status != alerts.StatusFiring {
		t.Fatalf("alerts = %+v, want one firing", a)
	}
	e.sweep(t)
	if a := e.alertsOf(t, alerts.IdleInTransactionTerminated, subject); len(a) != 1 || a[0].Status != alerts.StatusResolved {
		t.Fatalf("alerts after a clean sweep = %+v, want one resolved", a)
	}
	hs, _ := e.store.ListInstanceHealth(testContext(t), e.inst.ID)
	if len(hs) != 1 || hs[0].DrainedTotal != 1 {
		t.Fatalf("instance health = %+v, want drained_total 1", hs)
	}
}

// Two sessions wait on a lock tenant-000's transaction holds (one through
// the other): the chain is reported with tenant-000's session as its root
// and alerted naming it; it resolves once the lock is released.
func TestSweepBlockingChain(t *testing.T) {
	e := setup(t, setupOpts{tenants: 1, poolSize: 8, cfg: func(c *Config) { c.BlockedFor = time.Second },
		pools: func(pc *tenants.PoolsConfig) { pc.TenantInflightCap = 4 }})
	unlock, rootDone := e.holdTx(t, "tenant-000", "LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
	var waiters []<-chan error
	for range 2 {
		ch := make(chan error, 1)
		go func() {
			_, err := e.pools.Exec(testContext(t), "tenant-000", "SELECT count(*) FROM items")
			ch <- err
		}()
		waiters = append(waiters, ch)
	}
	var rep Report
	if err := eventually(30*time.Second, func() bool {
		rep = e.sweep(t)
		return len(rep.Details.Chains) == 1 && rep.Details.Chains[0].Waiting == 2 && rep.Details.Chains[0].LongestWaitSeconds >= 1
	}); err != nil {
		t.Fatalf("chains = %+v", rep.Details.Chains)
	}
	c := rep.Details.Chains[0]
	if c.RootTenant != "tenant-000" || c.RootState != "idle in transaction" || rep.Instance.Blocked != 2 {
		t.Fatalf("chain = %+v, blocked %d", c, rep.Instance.Blocked)
	}
	a := e.alertsOf(t, alerts.BlockingChain, e.inst.ID)
	if len(a) != 1 || a[0].Status != alerts.StatusFiring || !strings.Contains(a[0].Summary, "tenant-000") {
		t.Fatalf("blocking alerts = %+v", a)
	}
	unlock()
	for _, ch := range append(waiters, rootDone) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	e.sweep(t)
	if a := e.alertsOf(t, alerts.BlockingChain, e.inst.ID); len(a) != 1 || a[0].Status != alerts.StatusResolved {
		t.Fatalf("blocking alerts after release = %+v", a)
	}
}

// The instance's port stops answering: instance_down fires listing its
// tenants, a tenant alert raised meanwhile is inhibited, and the alert
// resolves when the port answers again.
func TestSweepInstanceDown(t *testing.T) {
	e := setup(t, setupOpts{tenants: 2, cfg: func(c *Config) { c.PingTimeout = time.Second }})
	e.sweep(t)
	e.proxy.cut()
	rep := e.sweep(t)
	if rep.Instance.Up || rep.Instance.Error == "" || strings.Contains(rep.Instance.Error, "127.0.0.1") {
		t.Fatalf("instance health = %+v, want down with an error class", rep.Instance)
	}
	down := e.alertsOf(t, alerts.InstanceDown, e.inst.ID)
	if len(down) != 1 || down[0].Status != alerts.StatusFiring || !slices.Equal(down[0].AffectedTenants, []string{"tenant-000", "tenant-001"}) {
		t.Fatalf("instance_down alerts = %+v", down)
	}
	out, err := e.engine.Raise(testContext(t), alerts.Condition{Kind: alerts.XIDAgeHigh, Subject: "tenant-000", Tenant: "tenant-000", Instance: e.inst.ID})
	if err != nil || !out.Inhibited || out.Notified != "" {
		t.Fatalf("tenant alert on a down instance: %+v, %v; want inhibited", out, err)
	}
	e.proxy.restore(t)
	if err := eventually(30*time.Second, func() bool { return e.sweep(t).Instance.Up }); err != nil {
		t.Fatal("instance never came back up")
	}
	if down := e.alertsOf(t, alerts.InstanceDown, e.inst.ID); len(down) != 1 || down[0].Status != alerts.StatusResolved {
		t.Fatalf("instance_down alerts after recovery = %+v", down)
	}
	// The sweep now sees tenant-000's xid age is fine: the alert clears.
	if a := e.alertsOf(t, alerts.XIDAgeHigh, "tenant-000"); len(a) != 1 || a[0].Status != alerts.StatusResolved {
		t.Fatalf("xid alerts = %+v, want resolved", a)
	}
}

// A tenant plants policies, triggers, rules and a lying IMMUTABLE index
// function on its tables: a sweep reading the catalogs and statistics of
// the instance runs none of it.
func TestSweepRunsNoTenantCode(t *testing.T) {
	e := setup(t, setupOpts{tenants: 2})
	attacker, _ := tenants.NamesFor(e.fleet, "tenant-000")
	victim, _ := tenants.NamesFor(e.fleet, "tenant-001")
	trap := cptest.PlantTenantTrap(t, e.admin, attacker.Schema, attacker.Role, [2]string{victim.Schema, "items"},
		cptest.TrapTable{Name: "items", Column: "id"})
	rep := e.sweep(t)
	if !rep.Instance.Up || len(rep.Tenants) != 2 {
		t.Fatalf("sweep = %+v", rep.Instance)
	}
	if firings := trap.AssertGainedNothing(t, e.admin, false); len(firings) != 0 {
		t.Fatalf("the sweep ran the tenant's trap: %+v", firings)
	}
}

// chains follows blocked-by edges to the session that blocks without
// waiting, through intermediate waiters, and survives a cycle.
func TestChainsRoot(t *testing.T) {
	ss := []session{
		{pid: 10, tenant: "a", state: "idle in transaction"},
		{pid: 11, tenant: "b", blockedBy: []int32{10}, queryAge: 3},
		{pid: 12, tenant: "c", blockedBy: []int32{11}, queryAge: 5},
		{pid: 20, blockedBy: []int32{21}},
		{pid: 21, blockedBy: []int32{20}},
	}
	got := chains(ss)
	if len(got) != 2 || got[0].RootPID != 10 || got[0].RootTenant != "a" || got[0].Waiting != 2 ||
		!slices.Equal(got[0].WaitingTenants, []string{"b", "c"}) || got[0].LongestWaitSeconds != 5 {
		t.Fatalf("chains = %+v", got)
	}
	if got[1].RootPID != 20 || got[1].Waiting != 2 {
		t.Fatalf("cycle chain = %+v", got[1])
	}
}
