package health

import (
	"strconv"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestFailuresRaiseAndResolve: a failed onboarding raises one
// onboarding_failed for its tenant and a run with failed tenants one
// migration_failed; both fire once across passes and resolve when the
// tenant is active again and the run's failed tenants are sent round.
func TestFailuresRaiseAndResolve(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{tenants: 2})
	ctx := testContext(t)
	if _, err := e.store.SetTenantStatus(ctx, "tenant-000", tenants.TenantFailed, "placement: no capacity"); err != nil {
		t.Fatal(err)
	}
	runID, err := e.store.CreateMigrationRun(ctx, controlplane.NewMigrationRun{Phase: controlplane.MigrationPhaseMain, TargetVersion: 1, Concurrency: 1, RequestedBy: "test",
		Tenants: []controlplane.MigrationRunMember{{TenantID: "tenant-001", InstanceID: e.inst.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	// The run finished with its tenant failed, as the runner records it.
	if _, err := e.cp.Exec(ctx, `UPDATE migration_run_tenants SET status = 'failed', error = 'boom' WHERE run_id = $1`, runID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cp.Exec(ctx, `UPDATE migration_runs SET status = 'failed' WHERE id = $1`, runID); err != nil {
		t.Fatal(err)
	}

	for range 2 { // a second pass notifies nothing new
		if err := e.agent.ObserveFailures(ctx); err != nil {
			t.Fatalf("ObserveFailures: %v", err)
		}
	}
	open := openAlerts(t, e)
	onb, mig := open[alerts.DedupKey(alerts.OnboardingFailed, "tenant-000")], open[alerts.DedupKey(alerts.MigrationFailed, runSubject(runID))]
	if onb.ID == 0 || mig.ID == 0 || len(open) != 2 {
		t.Fatalf("open alerts %v, want onboarding_failed for tenant-000 and migration_failed for run %d", keys(open), runID)
	}
	if onb.Notifications != 1 || mig.Notifications != 1 {
		t.Errorf("notifications: onboarding %d, migration %d; want 1 each", onb.Notifications, mig.Notifications)
	}

	if _, err := e.store.SetTenantStatus(ctx, "tenant-000", tenants.TenantActive, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ResetFailedMigrationTenants(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if err := e.agent.ObserveFailures(ctx); err != nil {
		t.Fatalf("ObserveFailures: %v", err)
	}
	if open := openAlerts(t, e); len(open) != 0 {
		t.Fatalf("after the retry, open alerts %v, want none", keys(open))
	}
}

func runSubject(id int64) string { return "run:" + strconv.FormatInt(id, 10) }

// openAlerts returns the open alerts by dedup key.
func openAlerts(t *testing.T, e *env) map[string]controlplane.Alert {
	t.Helper()
	list, err := e.store.ListAlerts(testContext(t), controlplane.AlertFilter{OpenOnly: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]controlplane.Alert{}
	for _, a := range list {
		out[a.DedupKey] = a
	}
	return out
}

func keys(m map[string]controlplane.Alert) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
