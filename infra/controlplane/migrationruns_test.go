package controlplane_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// newRun records a run over tenants (none of them in the catalog, which
// migration_run_tenants does not require), the first canaries of them
// canary ones.
func newRun(t *testing.T, s *controlplane.Store, key string, canaries int, tenants ...string) int64 {
	t.Helper()
	phase := controlplane.MigrationPhaseMain
	if canaries > 0 {
		phase = controlplane.MigrationPhaseCanary
	}
	members := make([]controlplane.MigrationRunMember, len(tenants))
	for i, id := range tenants {
		members[i] = controlplane.MigrationRunMember{TenantID: id, InstanceID: "inst-1"}
	}
	id, err := s.CreateMigrationRun(testContext(t), controlplane.NewMigrationRun{Phase: phase, TargetVersion: 3,
		Concurrency: 2, Canary: canaries, CPUThreshold: 70, LagThreshold: 1500 * time.Millisecond, RequestedBy: "ada",
		IdempotencyKey: key, RequestSHA256: []byte("sum:" + key), Tenants: members, CanaryTenants: canaries})
	if err != nil {
		t.Fatalf("CreateMigrationRun: %v", err)
	}
	return id
}

func TestMigrationRunRecordAndRead(t *testing.T) {
	t.Parallel()
	_, pool := cptest.Database(t)
	s, ctx := controlplane.NewStore(pool), testContext(t)

	if _, err := s.LatestMigrationRunID(ctx); !errors.Is(err, controlplane.ErrMigrationRunNotFound) {
		t.Fatalf("LatestMigrationRunID of none: got %v, want ErrMigrationRunNotFound", err)
	}
	id := newRun(t, s, "", 0, "acme", "globex")
	run, err := s.MigrationRun(ctx, id)
	if err != nil {
		t.Fatalf("MigrationRun: %v", err)
	}
	want := controlplane.MigrationRunCounts{Total: 2, Pending: 2}
	if run.Status != controlplane.MigrationRunRunning || run.Phase != controlplane.MigrationPhaseMain ||
		run.LagThreshold != 1500*time.Millisecond || run.CPUThreshold != 70 || run.RequestedBy != "ada" || run.Counts != want {
		t.Errorf("MigrationRun: got %+v, want running main run, lag 1.5s, cpu 70, by ada, counts %+v", run, want)
	}
	if latest, err := s.LatestMigrationRunID(ctx); err != nil || latest != id {
		t.Errorf("LatestMigrationRunID: got %d, %v; want %d", latest, err, id)
	}
	if _, err := s.MigrationRun(ctx, id+1000); !errors.Is(err, controlplane.ErrMigrationRunNotFound) {
		t.Errorf("MigrationRun of unknown id: got %v, want ErrMigrationRunNotFound", err)
	}
	if _, err := s.MigrationTask(ctx, id, "initech"); !errors.Is(err, controlplane.ErrMigrationTaskNotFound) {
		t.Errorf("MigrationTask of a tenant not in the run: got %v, want ErrMigrationTaskNotFound", err)
	}
	task, err := s.MigrationTask(ctx, id, "acme")
	if err != nil {
		t.Fatalf("MigrationTask: %v", err)
	}
	// Not in the catalog: the placement comes back empty, for the runner
	// to fail the tenant as gone.
	if task.TargetVersion != 3 || task.Concurrency != 2 || task.Status != controlplane.MigrationTenantPending ||
		task.TenantStatus != "" || task.InstanceID != "" {
		t.Errorf("MigrationTask: got %+v, want target 3, concurrency 2, pending, no catalog row", task)
	}
	// Without a key nothing is stored of the fingerprint either (the
	// table's check would refuse a fingerprint alone).
	if _, found, err := s.MigrationRunByIdempotencyKey(ctx, ""); err != nil || found {
		t.Errorf("MigrationRunByIdempotencyKey(\"\"): found %v, %v; want none", found, err)
	}
}

func TestMigrationRunIdempotencyKey(t *testing.T) {
	t.Parallel()
	_, pool := cptest.Database(t)
	s, ctx := controlplane.NewStore(pool), testContext(t)

	id := newRun(t, s, "key-1", 0, "acme")
	_, err := s.CreateMigrationRun(ctx, controlplane.NewMigrationRun{Phase: controlplane.MigrationPhaseMain,
		TargetVersion: 1, Concurrency: 1, CPUThreshold: 70, IdempotencyKey: "key-1", RequestSHA256: []byte("other"),
		Tenants: []controlplane.MigrationRunMember{{TenantID: "globex", InstanceID: "inst-1"}}})
	if !errors.Is(err, controlplane.ErrIdempotencyKeyTaken) {
		t.Fatalf("second run under one key: got %v, want ErrIdempotencyKeyTaken", err)
	}
	// The refused run left nothing: no second run, no tenant row.
	if latest, _ := s.LatestMigrationRunID(ctx); latest != id {
		t.Errorf("after the refused run: latest run %d, want %d", latest, id)
	}
	if rows, _ := s.MigrationRunTenants(ctx, id); len(rows) != 1 || rows[0].TenantID != "acme" {
		t.Errorf("tenants of run %d: got %+v, want acme only", id, rows)
	}
	run, found, err := s.MigrationRunByIdempotencyKey(ctx, "key-1")
	if err != nil || !found || run.ID != id || !bytes.Equal(run.RequestSHA256, []byte("sum:key-1")) ||
		run.Status != controlplane.MigrationRunRunning {
		t.Errorf("MigrationRunByIdempotencyKey: got %+v, %v, %v; want run %d with its fingerprint", run, found, err, id)
	}
	if _, found, err := s.MigrationRunByIdempotencyKey(ctx, "key-2"); err != nil || found {
		t.Errorf("unknown key: found %v, %v; want not found", found, err)
	}
}

// TestMigrationRunCanaryLifecycle walks a canary run through the
// operations the runner composes: a failed canary stops the run, a retry
// (in one transaction) reopens it, the canary passes, the run is promoted
// and finishes.
func TestMigrationRunCanaryLifecycle(t *testing.T) {
	t.Parallel()
	_, pool := cptest.Database(t)
	s, ctx := controlplane.NewStore(pool), testContext(t)
	id := newRun(t, s, "", 1, "acme", "globex", "initech")

	open, err := s.UnfinishedMigrationTenants(ctx, id, true)
	if err != nil || !slices.Equal(open, []controlplane.MigrationTenantRound{{TenantID: "acme"}}) {
		t.Fatalf("unfinished canaries: got %+v, %v; want acme round 0", open, err)
	}
	if n, err := s.StartMigrationAttempt(ctx, id, "acme"); err != nil || n != 1 {
		t.Fatalf("StartMigrationAttempt: got %d, %v; want 1", n, err)
	}
	before := int64(2)
	fail := controlplane.MigrationAttempt{Status: controlplane.MigrationTenantFailed, Before: &before,
		Duration: 40 * time.Millisecond, Error: "boom"}
	if err := s.RecordMigrationAttempt(ctx, id, "acme", fail); err != nil {
		t.Fatalf("RecordMigrationAttempt: %v", err)
	}
	if n, err := s.StartMigrationAttempt(ctx, id, "acme"); err != nil || n != 0 {
		t.Errorf("StartMigrationAttempt on a finished tenant: got %d, %v; want 0", n, err)
	}
	if v, err := s.MigrationCanaryVerdict(ctx, id); err != nil || v != (controlplane.CanaryVerdict{Failed: "acme"}) {
		t.Fatalf("canary verdict: got %+v, %v; want acme failed, none open", v, err)
	}
	if st, err := s.FinishMigrationRun(ctx, id); err != nil || st != "" {
		t.Errorf("FinishMigrationRun in the canary phase: got %q, %v; want it left open", st, err)
	}
	for i, want := range []bool{true, false} {
		if stopped, err := s.StopMigrationRun(ctx, id, "canary tenant acme failed"); err != nil || stopped != want {
			t.Errorf("StopMigrationRun #%d: got %v, %v; want %v", i+1, stopped, err, want)
		}
	}

	// A retry that fails after resetting the tenants rolls back whole.
	errAbort := errors.New("abort")
	err = s.Tx(ctx, func(tx *controlplane.Store) error {
		if _, err := tx.ResetFailedMigrationTenants(ctx, id); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("aborted Tx: got %v, want errAbort", err)
	}
	if run, _ := s.MigrationRun(ctx, id); run.Counts.Failed != 1 || run.Status != controlplane.MigrationRunStopped {
		t.Fatalf("after the rolled-back retry: got %+v, want the run stopped with acme failed", run)
	}
	var reset []controlplane.MigrationTenantRound
	err = s.Tx(ctx, func(tx *controlplane.Store) error {
		st, err := tx.LockMigrationRun(ctx, id)
		if err != nil || st != controlplane.MigrationRunStopped {
			return errors.Join(err, errors.New("run not stopped"))
		}
		if reset, err = tx.ResetFailedMigrationTenants(ctx, id); err != nil {
			return err
		}
		return tx.ReopenMigrationRun(ctx, id)
	})
	if err != nil || !slices.Equal(reset, []controlplane.MigrationTenantRound{{TenantID: "acme", Round: 1}}) {
		t.Fatalf("retry: got %+v, %v; want acme in round 1", reset, err)
	}
	if _, err := s.LockMigrationRun(ctx, id+1000); !errors.Is(err, controlplane.ErrMigrationRunNotFound) {
		t.Errorf("LockMigrationRun of an unknown run: got %v, want ErrMigrationRunNotFound", err)
	}

	after := int64(3)
	pass := controlplane.MigrationAttempt{Status: controlplane.MigrationTenantSucceeded, After: &after}
	if err := s.RecordMigrationAttempt(ctx, id, "acme", pass); err != nil {
		t.Fatal(err)
	}
	if promoted, err := s.PromoteMigrationRun(ctx, id); err != nil || !promoted {
		t.Fatalf("PromoteMigrationRun: got %v, %v; want promoted", promoted, err)
	}
	if promoted, _ := s.PromoteMigrationRun(ctx, id); promoted {
		t.Error("second PromoteMigrationRun: promoted again")
	}
	if err := s.SetMigrationTenantWaiting(ctx, id, "globex", controlplane.MigrationTenantPaused, "cpu 90% > 70%"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.FinishMigrationRun(ctx, id); err != nil || st != "" {
		t.Errorf("FinishMigrationRun with tenants left: got %q, %v; want it open", st, err)
	}
	resumed, running, err := s.CountMigrationRunResume(ctx, id)
	if err != nil || !running || resumed != (controlplane.ResumedMigrationRun{Resumes: 1, Phase: controlplane.MigrationPhaseMain}) {
		t.Errorf("CountMigrationRunResume: got %+v, %v, %v; want resume 1 in main", resumed, running, err)
	}
	for _, tenant := range []string{"globex", "initech"} {
		if err := s.RecordMigrationAttempt(ctx, id, tenant, pass); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.FinishMigrationRun(ctx, id); err != nil || st != controlplane.MigrationRunSucceeded {
		t.Fatalf("FinishMigrationRun: got %q, %v; want succeeded", st, err)
	}
	if _, running, _ := s.CountMigrationRunResume(ctx, id); running {
		t.Error("CountMigrationRunResume of a finished run: counted a resume")
	}
	rows, err := s.MigrationRunTenants(ctx, id)
	if err != nil || len(rows) != 3 {
		t.Fatalf("MigrationRunTenants: got %d rows, %v; want 3", len(rows), err)
	}
	acme := rows[0]
	if acme.TenantID != "acme" || !acme.Canary || acme.VersionBefore == nil || *acme.VersionBefore != 2 ||
		acme.VersionAfter == nil || *acme.VersionAfter != 3 || acme.FinishedAt == nil || acme.Error != "" {
		t.Errorf("acme's result: got %+v, want canary 2 -> 3, finished, error cleared by the retry", acme)
	}
	if running, err := s.RunningMigrationRuns(ctx); err != nil || len(running) != 0 {
		t.Errorf("RunningMigrationRuns after the finish: got %+v, %v; want none", running, err)
	}
}
