package controlplane_test

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func TestIntakeRequestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, db := cptest.Database(t)
	st := controlplane.NewStore(db)
	req := controlplane.NewIntakeRequest{Source: controlplane.IntakeSourceAPI, DeliveryID: "d-1", TenantID: "acme", Name: "Acme", Tier: "shared", RequestedBy: "ada"}

	rec, dup, err := st.InsertIntakeRequest(ctx, req)
	if err != nil || dup || rec.Status != controlplane.OutboxPending || rec.TaskAttempt != 1 || rec.TicketKey != "" {
		t.Fatalf("insert: got %+v dup=%v err=%v, want a pending first attempt", rec, dup, err)
	}
	// The same delivery with another tenant is the stored request.
	again, dup, err := st.InsertIntakeRequest(ctx, controlplane.NewIntakeRequest{Source: req.Source, DeliveryID: "d-1", TenantID: "other", Name: "x", Tier: "shared"})
	if err != nil || !dup || again.ID != rec.ID || again.TenantID != "acme" {
		t.Fatalf("repeat: got %+v dup=%v err=%v, want request %d as a duplicate", again, dup, err, rec.ID)
	}

	if status, ok, err := st.MarkIntakeEnqueued(ctx, rec.ID, true); err != nil || !ok || status != controlplane.OutboxEnqueued {
		t.Fatalf("mark seen: got %s %v %v", status, ok, err)
	}
	if _, ok, err := st.MarkIntakeEnqueued(ctx, rec.ID, true); err != nil || ok {
		t.Fatalf("mark seen twice: got changed=%v err=%v, want no change", ok, err)
	}
	if _, ok, err := st.MarkIntakeEnqueued(ctx, rec.ID, false); err != nil || !ok {
		t.Fatalf("mark enqueued: got changed=%v err=%v", ok, err)
	}
	page, err := st.UnfinishedIntakeRequests(ctx, controlplane.UnfinishedPage{Limit: 10})
	if err != nil || len(page) != 1 || page[0].Attempts != 1 {
		t.Fatalf("unfinished: got %+v %v, want the request with 1 attempt", page, err)
	}

	next, ok, err := st.NextIntakeAttempt(ctx, rec.ID, 1)
	if err != nil || !ok || next.TaskAttempt != 2 || next.Status != controlplane.OutboxPending {
		t.Fatalf("next attempt: got %+v %v %v", next, ok, err)
	}
	if _, ok, err := st.NextIntakeAttempt(ctx, rec.ID, 1); err != nil || ok {
		t.Fatalf("stale next attempt: got changed=%v err=%v, want no change", ok, err)
	}

	inTx := func(fn func(tx *controlplane.Store) error) error { return st.Tx(ctx, fn) }
	if err := inTx(func(tx *controlplane.Store) error {
		_, changed, err := tx.FailIntakeRequest(ctx, rec.ID, "")
		if err == nil && !changed {
			err = errors.New("not changed")
		}
		return err
	}); err != nil {
		t.Fatalf("fail: %v", err)
	}
	got, err := st.IntakeRequest(ctx, rec.ID)
	if err != nil || got.Status != controlplane.OutboxFailed || got.Error != "failed" || got.FinishedAt == nil {
		t.Fatalf("failed request: got %+v %v", got, err)
	}

	// A second unfinished request for the tenant blocks the reopen.
	other, _, err := st.InsertIntakeRequest(ctx, controlplane.NewIntakeRequest{Source: controlplane.IntakeSourceCLI, TenantID: "acme", Name: "Acme", Tier: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReopenIntakeRequest(ctx, rec.ID); !errors.Is(err, controlplane.ErrIntakeRequestInFlight) {
		t.Fatalf("reopen with another in flight: got %v, want ErrIntakeRequestInFlight", err)
	}
	if err := inTx(func(tx *controlplane.Store) error {
		_, _, err := tx.CompleteIntakeRequest(ctx, other.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	reopened, err := st.ReopenIntakeRequest(ctx, rec.ID)
	if err != nil || reopened.TaskAttempt != 3 || reopened.Status != controlplane.OutboxPending || reopened.Error != "" {
		t.Fatalf("reopen: got %+v %v", reopened, err)
	}
	latest, found, err := st.LockLatestIntakeRequest(ctx, "acme")
	if err != nil || !found || latest.ID != other.ID {
		t.Fatalf("latest: got %+v %v %v, want request %d", latest, found, err, other.ID)
	}

	// Done is final: completing again writes nothing, failing is refused.
	for range 2 {
		if err := inTx(func(tx *controlplane.Store) error { _, _, err := tx.CompleteIntakeRequest(ctx, rec.ID); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if _, changed, err := st.CompleteIntakeRequest(ctx, rec.ID); err != nil || changed {
		t.Fatalf("complete a done request: got changed=%v err=%v, want no change", changed, err)
	}
	if _, _, err := st.FailIntakeRequest(ctx, rec.ID, "late"); !errors.Is(err, controlplane.ErrIntakeRequestDone) {
		t.Fatalf("fail a done request: got %v, want ErrIntakeRequestDone", err)
	}
	if _, err := st.IntakeRequest(ctx, 1<<40); !errors.Is(err, controlplane.ErrIntakeRequestNotFound) {
		t.Fatalf("missing request: got %v, want ErrIntakeRequestNotFound", err)
	}
}

func TestOffboardingAndArchives(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, db := cptest.Database(t)
	st := controlplane.NewStore(db)
	if _, err := db.Exec(ctx, `INSERT INTO instances (id, provider, tier, status, database_name) VALUES ('i1', 'local', 'shared', 'ready', 'db1')`); err != nil {
		t.Fatalf("instances row: %v", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO tenants (id, name, tier, status, instance_id) VALUES ('acme', 'Acme', 'shared', 'active', 'i1')`); err != nil {
		t.Fatal(err)
	}

	var rec controlplane.OffboardRequest
	err := st.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		rec, err = tx.InsertOffboardRequest(ctx, controlplane.NewOffboardRequest{TenantID: "acme", Action: controlplane.OffboardArchive, RequestedBy: "ada"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if in, ok, err := st.InflightOffboardRequest(ctx, "acme"); err != nil || !ok || in.ID != rec.ID {
		t.Fatalf("in flight: got %+v %v %v", in, ok, err)
	}

	plan := controlplane.TenantArchive{TenantID: "acme", RequestID: rec.ID, InstanceID: "i1", Database: "db1", Schema: "archived_t_acme_20260101"}
	first, err := st.PlanTenantArchive(ctx, plan)
	if err != nil || first.Schema != plan.Schema || first.ArchivedAt != nil {
		t.Fatalf("plan: got %+v %v", first, err)
	}
	plan.Schema = "another_name"
	if again, err := st.PlanTenantArchive(ctx, plan); err != nil || again.Schema != first.Schema {
		t.Fatalf("plan again: got %+v %v, want the first plan kept", again, err)
	}
	// Only an archived schema can be claimed for a restore.
	if _, err := st.ClaimTenantArchive(ctx, "acme", 7, true); !errors.Is(err, controlplane.ErrNoTenantArchive) {
		t.Fatalf("claim a planned archive: got %v, want ErrNoTenantArchive", err)
	}
	if err := st.Tx(ctx, func(tx *controlplane.Store) error {
		if err := tx.MarkTenantArchived(ctx, rec.ID); err != nil {
			return err
		}
		_, _, err := tx.CompleteOffboardRequest(ctx, rec.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimTenantArchive(ctx, "acme", 7, true)
	if err != nil || claimed.ID != first.ID || claimed.RestoreRequestID == nil || *claimed.RestoreRequestID != 7 {
		t.Fatalf("claim: got %+v %v", claimed, err)
	}
	// The claimer finds it again; once restored, nobody else can claim it.
	if again, err := st.ClaimTenantArchive(ctx, "acme", 7, false); err != nil || again.ID != first.ID {
		t.Fatalf("claim again: got %+v %v", again, err)
	}
	if err := st.MarkTenantArchiveRestored(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimTenantArchive(ctx, "acme", 8, true); !errors.Is(err, controlplane.ErrNoTenantArchive) {
		t.Fatalf("claim a restored archive: got %v, want ErrNoTenantArchive", err)
	}
	if left, err := st.TenantArchives(ctx, "acme"); err != nil || len(left) != 0 {
		t.Fatalf("archives after restore: got %+v %v, want none", left, err)
	}

	// A failure records its reason; a finished request stays.
	var purge controlplane.OffboardRequest
	if err := st.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		purge, err = tx.InsertOffboardRequest(ctx, controlplane.NewOffboardRequest{TenantID: "acme", Action: controlplane.OffboardPurge, RequestedBy: "bob"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	failed, changed, err := st.FailOffboardRequest(ctx, purge.ID, "disk full")
	if err != nil || !changed || failed.Error != "disk full" {
		t.Fatalf("fail: got %+v %v %v", failed, changed, err)
	}
	if _, changed, err := st.FailOffboardRequest(ctx, rec.ID, "late"); err != nil || changed {
		t.Fatalf("fail a done request: got changed=%v err=%v, want no change", changed, err)
	}
	if latest, ok, err := st.LatestOffboardRequest(ctx, "acme"); err != nil || !ok || latest.ID != purge.ID {
		t.Fatalf("latest: got %+v %v %v", latest, ok, err)
	}
	since, err := st.OffboardRequestedSince(ctx, "acme", rec.CreatedAt)
	if err != nil || !since {
		t.Fatalf("requested since: got %v %v, want true", since, err)
	}
	if _, err := st.OffboardRequest(ctx, 1<<40); !errors.Is(err, controlplane.ErrOffboardRequestNotFound) {
		t.Fatalf("missing request: got %v, want ErrOffboardRequestNotFound", err)
	}
}
