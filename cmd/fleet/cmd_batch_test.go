package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// `fleet schedule list`, `fleet batch list` and `fleet batch runs` show
// the scheduler's entries with their next runs, each tenant's slot and
// next run, and the recorded runs.
func TestScheduleAndBatchCommands(t *testing.T) {
	env, db, _ := scratchFleet(t, "sc")
	env["FLEET_HEALTH_INTERVAL"] = "5s"
	env["FLEET_BATCH_JOBS"] = "compliance-snapshot=1h/30m"
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	catalog := controlplane.NewStore(db)
	for _, id := range []string{"acme-bank", "globex"} {
		if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: tenants.TenantActive}); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) []byte {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, getenv, &out, io.Discard); err != nil {
			t.Fatalf("fleet %s: %v", strings.Join(args, " "), err)
		}
		return out.Bytes()
	}

	before := time.Now()
	var entries []queue.EntryInfo
	if err := json.Unmarshal(cli("schedule", "list", "--json"), &entries); err != nil {
		t.Fatal(err)
	}
	byName := map[string]queue.EntryInfo{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for _, name := range []string{queue.TypeHealthSweep, queue.TypePoolWatch, queue.TypeCostAnalyze, "batch:compliance-snapshot", "intake-reconcile"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("schedule list lacks %s: %+v", name, entries)
		}
	}
	if h := byName[queue.TypeHealthSweep]; h.Spec != "@every 5s" || h.Next.Before(before) || h.Next.After(before.Add(6*time.Second)) {
		t.Errorf("health entry %+v, want @every 5s with its next run within 5s", h)
	}
	if c := byName[queue.TypeCostAnalyze]; c.Spec != config.DefaultCostSchedule || c.Note != "" {
		t.Errorf("cost entry %+v, want the daily spec, enqueued (fleet run registers the cost agent)", c)
	}
	for _, e := range entries {
		if strings.Contains(e.Note, "no handler") {
			t.Errorf("entry %s has no handler in the fleet: %+v", e.Name, e)
		}
	}
	if b := byName["batch:compliance-snapshot"]; b.Spec != "@every 1m0s" || b.Note != "" {
		t.Errorf("batch entry %+v, want one firing per slot minute", b)
	}
	if text := string(cli("schedule", "list")); !strings.Contains(text, "health:sweep") || !strings.Contains(text, "NEXT (UTC)") {
		t.Errorf("schedule list:\n%s", text)
	}

	var upcoming []batch.Upcoming
	if err := json.Unmarshal(cli("batch", "list", "--tenant", "acme-bank", "--json"), &upcoming); err != nil {
		t.Fatal(err)
	}
	hourly := batch.Timing{Period: time.Hour, Window: 30 * time.Minute}
	if len(upcoming) != 1 || upcoming[0].Slot != batch.Slot("acme-bank") || upcoming[0].Kind != batch.ComplianceSnapshotKind ||
		!upcoming[0].NextRun.Equal(hourly.NextRun("acme-bank", upcoming[0].NextRun.Add(-hourly.Period))) {
		t.Errorf("batch list --tenant acme-bank = %+v, want slot %d and its hourly run at minute slot", upcoming, batch.Slot("acme-bank"))
	}
	if text := string(cli("batch", "list")); !strings.Contains(text, "acme-bank") || !strings.Contains(text, "globex") {
		t.Errorf("batch list:\n%s", text)
	}

	store := controlplane.NewStore(db)
	slot := time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)
	id, err := store.StartBatchRun(ctx, controlplane.BatchRunKey{Kind: batch.ComplianceSnapshotKind, TenantID: "globex", Slot: slot})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.FinishBatchRun(ctx, id, controlplane.BatchFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	var runs []controlplane.BatchRun
	if err := json.Unmarshal(cli("batch", "runs", "--json"), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].TenantID != "globex" || runs[0].Outcome != controlplane.BatchFailed || runs[0].Error != "boom" || runs[0].FinishedAt == nil {
		t.Errorf("batch runs = %+v, want globex's failed run", runs)
	}

	for _, args := range [][]string{
		{"batch", "list", "--tenant", "Robert'); DROP TABLE tenants;--"},
		{"batch", "runs", "--kind", "../etc"},
		{"batch", "runs", "--limit", "0"},
		{"schedule", "nope"},
	} {
		if err := run(ctx, args, getenv, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("fleet %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
	if err := run(ctx, []string{"batch", "list", "--tenant", "nobody"}, getenv, io.Discard, io.Discard); !errors.Is(err, errNotFound) {
		t.Errorf("batch list of an unknown tenant: %v, want not found (404)", err)
	}
	env["FLEET_BATCH_JOBS"] = "no-such-job=1h/30m"
	if err := run(ctx, []string{"batch", "list"}, getenv, io.Discard, io.Discard); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("FLEET_BATCH_JOBS naming an unknown kind: %v, want ErrInvalid", err)
	}
}
