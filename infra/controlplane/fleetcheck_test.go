package controlplane_test

import (
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// TestFleetCheckMigrationReads: the migration side of the fleet checks
// (cmd/fleetbench's chaos audit covers the rest against planted records).
func TestFleetCheckMigrationReads(t *testing.T) {
	t.Parallel()
	_, pool := cptest.Database(t)
	s, ctx := controlplane.NewStore(pool), testContext(t)

	done := newRun(t, s, "", 0, "acme")
	if err := s.RecordMigrationAttempt(ctx, done, "acme", controlplane.MigrationAttempt{Status: controlplane.MigrationTenantFailed}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.FinishMigrationRun(ctx, done); err != nil || st != controlplane.MigrationRunFailed {
		t.Fatalf("FinishMigrationRun: got %q, %v; want failed", st, err)
	}
	open := newRun(t, s, "", 0, "globex", "initech")
	if err := s.SetMigrationTenantWaiting(ctx, open, "initech", controlplane.MigrationTenantPaused, "cpu"); err != nil {
		t.Fatal(err)
	}

	verdicts, err := s.MigrationRunVerdicts(ctx)
	want := []controlplane.MigrationRunVerdict{{Status: controlplane.MigrationRunFailed, FailedLive: 1},
		{Status: controlplane.MigrationRunRunning}}
	if err != nil || len(verdicts) != 2 || verdicts[0] != want[0] || verdicts[1] != want[1] {
		t.Errorf("MigrationRunVerdicts: got %+v, %v; want %+v (acme is not in the catalog, so not offboarded)", verdicts, err, want)
	}
	if p, err := s.MigrationTenantProgress(ctx); err != nil || p != (controlplane.MigrationTenantProgress{Finished: 1, Total: 3}) {
		t.Errorf("MigrationTenantProgress: got %+v, %v; want 1 of 3", p, err)
	}
	if w, err := s.UnfinishedWork(ctx, nil); err != nil || w != (controlplane.UnfinishedWork{Migration: 2}) {
		t.Errorf("UnfinishedWork: got %+v, %v; want the open run's 2 tenants", w, err)
	}
	traces, err := s.MigrationTraces(ctx, 1)
	if err != nil || len(traces) != 1 || traces[0].RunID != open || traces[0].TenantID != "globex" ||
		traces[0].Status != controlplane.MigrationTenantPending || traces[0].UpdatedAt.IsZero() {
		t.Errorf("MigrationTraces(limit 1): got %+v, %v; want globex of run %d, pending", traces, err, open)
	}
	off, err := s.OffboardingTraces(ctx, []string{"ghost"}, 5)
	if err != nil || len(off) != 1 || off[0] != (controlplane.OffboardingTrace{TenantID: "ghost", TenantStatus: "missing"}) {
		t.Errorf("OffboardingTraces of an unknown tenant: got %+v, %v; want it missing with no request", off, err)
	}
	if on, err := s.OnboardingTraces(ctx, 5); err != nil || len(on) != 0 {
		t.Errorf("OnboardingTraces with no intake request: got %+v, %v; want none", on, err)
	}
}
