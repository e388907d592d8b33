package controlplane_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

func TestBatchRunsRecordStartEndAndRetries(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	slot := time.Date(2026, 1, 1, 0, 5, 0, 0, time.FixedZone("CET", 3600)) // stored and read back in UTC
	key := controlplane.BatchRunKey{Kind: "compliance-snapshot", TenantID: "acme", Slot: slot}
	id, err := s.StartBatchRun(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// An error message with NUL bytes, invalid UTF-8 and more than fits is
	// stored cleaned and cut on a character boundary.
	if err := s.FinishBatchRun(ctx, id, controlplane.BatchFailed, "a\x00b\xff"+strings.Repeat("é", 3000)); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.ListBatchRuns(ctx, controlplane.BatchRunFilter{}); len(runs) != 1 || !utf8.ValidString(runs[0].Error) ||
		!strings.HasPrefix(runs[0].Error, "ab\uFFFDé") || len(runs[0].Error) > 2000 {
		t.Errorf("stored error %q…, want it cleaned and bounded", runs[0].Error[:min(20, len(runs[0].Error))])
	}
	again, err := s.StartBatchRun(ctx, key)
	if err != nil || again != id {
		t.Fatalf("retry of the slot: id %d %v, want the same row %d", again, err, id)
	}
	runs, err := s.ListBatchRuns(ctx, controlplane.BatchRunFilter{TenantID: "acme"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if r := runs[0]; r.Outcome != controlplane.BatchRunning || r.Attempts != 2 || r.FinishedAt != nil || r.Error != "" ||
		!r.Slot.Equal(slot) || r.Slot.Location() != time.UTC {
		t.Errorf("retried run %+v, want running again, 2 attempts, no end, no error, slot %s in UTC", r, slot.UTC())
	}
	if err := s.FinishBatchRun(ctx, id, controlplane.BatchSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordComplianceSnapshot(ctx, id, "acme", []controlplane.TableSnapshot{{Table: "b", SizeBytes: 8192, Rows: 2}, {Table: "a", SizeBytes: 16384, Rows: 1}}); err != nil {
		t.Fatal(err)
	}
	// A retried snapshot replaces the first reading.
	if err := s.RecordComplianceSnapshot(ctx, id, "acme", []controlplane.TableSnapshot{{Table: "a", SizeBytes: 16384, Rows: 7}}); err != nil {
		t.Fatal(err)
	}
	tables, err := s.ComplianceSnapshot(ctx, id)
	if err != nil || len(tables) != 1 || tables[0] != (controlplane.TableSnapshot{Table: "a", SizeBytes: 16384, Rows: 7}) {
		t.Errorf("snapshot %+v %v, want only the latest reading", tables, err)
	}

	other, err := s.StartBatchRun(ctx, controlplane.BatchRunKey{Kind: "other-job", TenantID: "globex", Slot: slot})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishBatchRun(ctx, other, controlplane.BatchSkipped, "tenant not active"); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[controlplane.BatchRunFilter]int{{}: 2, {Kind: "other-job"}: 1, {TenantID: "nobody"}: 0, {Limit: 1}: 1} {
		if runs, err := s.ListBatchRuns(ctx, f); err != nil || len(runs) != want {
			t.Errorf("ListBatchRuns(%+v) = %d runs %v, want %d", f, len(runs), err, want)
		}
	}
	if err := s.FinishBatchRun(ctx, 999999, controlplane.BatchSucceeded, ""); !errors.Is(err, controlplane.ErrBatchRunNotFound) {
		t.Errorf("finishing a missing run: %v, want ErrBatchRunNotFound", err)
	}
	for _, bad := range []controlplane.BatchOutcome{controlplane.BatchRunning, "exploded"} {
		if err := s.FinishBatchRun(ctx, id, bad, ""); err == nil {
			t.Errorf("finishing with outcome %q succeeded, want an error", bad)
		}
	}
}
