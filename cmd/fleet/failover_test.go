package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/redistest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestFleetCarriesOnThroughASentinelFailover runs the wired fleet (the
// worker and scheduler roles as `fleet run` starts them) on a
// redis-sentinel:// URL, and kills the Redis master with SIGKILL while a
// fleet migration run and onboardings flow. The sentinels promote the
// replica and the same processes carry on: every onboarding ends done with
// its tenant active and routable, the run finishes with every tenant
// succeeded, and no tenant is provisioned twice.
func TestFleetCarriesOnThroughASentinelFailover(t *testing.T) {
	g := redistest.StartGroup(t)
	dbURL, db := cptest.Database(t)
	fleet := cptest.UniqueName("h")[:9]
	cptest.DropFleetOnCleanup(t, fleet)
	env := map[string]string{"FLEET_DATABASE_URL": dbURL, "FLEET_REDIS_URL": g.URL, "FLEET_NAME": fleet}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, svc := wireFleet(t, ctx, env)
	for _, role := range []string{"worker", "scheduler"} {
		c, err := startRole(ctx, a, svc, role)
		if err != nil {
			t.Fatalf("start %s: %v", role, err)
		}
		defer c.Stop()
	}
	var notEnqueued []string // accepted while Redis was down: left to the outbox reconciler
	submit := func(id string) (int64, error) {
		acc, err := svc.Intake.Submit(ctx, intake.Request{Source: intake.SourceCLI, TenantID: id, Name: id,
			Tier: tenants.Shared, RequestedBy: "failover-test"})
		if err == nil && acc.Status == intake.StatusPending {
			notEnqueued = append(notEnqueued, id)
		}
		return acc.RequestID, err
	}
	var requests []int64
	for i := range 4 {
		id, err := submit(fmt.Sprintf("before-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		requests = append(requests, id)
	}
	waitDone := func(ids []int64) {
		t.Helper()
		for _, id := range ids {
			rec, err := svc.Intake.Wait(ctx, id)
			if err != nil || rec.Status != intake.StatusDone {
				t.Fatalf("onboarding request %d: %s %q, %v; want done", id, rec.Status, rec.Error, err)
			}
		}
	}
	waitDone(requests)

	// A migration run over the four tenants, one at a time so that it is
	// still running when the master dies, and four more onboardings
	// submitted across the failover.
	runID, err := svc.Migrate.Start(ctx, migrate.Spec{Concurrency: 1, RequestedBy: "failover-test"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		later     []int64
		submitErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 4 {
			id, err := submit(fmt.Sprintf("across-%d", i))
			if err != nil {
				submitErr = err
				return
			}
			later = append(later, id)
			time.Sleep(500 * time.Millisecond)
		}
	}()
	killedAt := time.Now()
	g.Master.Kill()
	g.WaitPromoted(t)
	promoted := time.Since(killedAt)
	wg.Wait()
	if submitErr != nil {
		t.Fatalf("submit during the failover: %v", submitErr)
	}
	waitDone(later)
	onboarded := time.Since(killedAt)

	st, err := svc.Migrate.Wait(ctx, runID, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("migration run %d: %v", runID, err)
	}
	if st.Status != migrate.RunSucceeded || st.Counts.Succeeded != 4 || st.Counts.Failed != 0 {
		t.Errorf("migration run across the failover: %s, counts %+v; want succeeded with 4 tenants", st.Status, st.Counts)
	}
	for _, tr := range st.Tenants {
		if tr.Attempts > 1 {
			t.Logf("tenant %s migrated in %d attempts", tr.TenantID, tr.Attempts)
		}
	}

	active, err := svc.Catalog.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantActive})
	if err != nil || len(active) != 8 {
		t.Fatalf("active tenants after the failover: %d (%v), want 8", len(active), err)
	}
	for _, tn := range active {
		if _, err := svc.Router.Resolve(ctx, tn.ID); err != nil {
			t.Errorf("resolve %s after the failover: %v", tn.ID, err)
		}
	}
	var twice int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT tenant_id FROM audit_log
		WHERE action = $1 AND outcome = $2 GROUP BY tenant_id HAVING count(*) > 1) d`,
		provision.ActionProvision, audit.OutcomeDone).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d tenants have more than one %s done audit row: provisioned twice", twice, provision.ActionProvision)
	}
	t.Logf("fleet failover: promoted %s after the kill; all 8 onboardings done %s after it "+
		"(accepted but not enqueued while Redis was down, so left to the outbox reconciler: %v); run %d %s in %s",
		promoted.Round(time.Millisecond), onboarded.Round(time.Millisecond), notEnqueued, runID, st.Status,
		st.FinishedAt.Sub(st.CreatedAt).Round(time.Millisecond))
}
