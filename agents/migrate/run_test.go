package migrate_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
)

func TestRunMigratesEveryTenant(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	a := e.addInstance(t, "ia", 30, "", "", 0)
	b := e.addInstance(t, "ib", 20, "", "", 0)
	e.startWorker(t, e.runner, 8)
	e.startWorker(t, e.runner, 8)

	id, err := e.runner.Start(testContext(t), migrate.Spec{Concurrency: 3})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := e.wait(t, id)
	if got, want := st.Status, migrate.RunSucceeded; got != want {
		t.Fatalf("run status: got %s, want %s (counts %+v)", got, want, st.Counts)
	}
	if got, want := st.Counts.Succeeded, 50; got != want {
		t.Errorf("succeeded: got %d, want %d", got, want)
	}
	for _, tr := range st.Tenants {
		if tr.VersionBefore == nil || *tr.VersionBefore != 0 || tr.VersionAfter == nil || *tr.VersionAfter != 3 {
			t.Errorf("tenant %s: got versions %v -> %v, want 0 -> 3", tr.TenantID, tr.VersionBefore, tr.VersionAfter)
		}
		if tr.Attempts != 1 {
			t.Errorf("tenant %s: got %d attempts, want 1", tr.TenantID, tr.Attempts)
		}
	}
	for _, in := range []instance{a, b} {
		for _, tid := range in.tenants {
			if got := e.version(t, in, tid); got != 3 {
				t.Errorf("tenant %s: version got %d, want 3", tid, got)
			}
		}
	}

	// A second run finds nothing to do: every tenant stays at 3.
	id2, err := e.runner.Start(testContext(t), migrate.Spec{Instance: "ib"})
	if err != nil {
		t.Fatalf("Start again: %v", err)
	}
	st = e.wait(t, id2)
	if got, want := st.Status, migrate.RunSucceeded; got != want {
		t.Fatalf("second run: got %s, want %s", got, want)
	}
	if got, want := st.Counts.Total, 20; got != want {
		t.Errorf("second run tenants: got %d, want %d", got, want)
	}
	for _, tr := range st.Tenants {
		if *tr.VersionBefore != 3 || *tr.VersionAfter != 3 {
			t.Errorf("second run tenant %s: got %d -> %d, want 3 -> 3", tr.TenantID, *tr.VersionBefore, *tr.VersionAfter)
		}
	}
	latest, err := e.runner.LatestRun(testContext(t))
	if err != nil || latest != id2 {
		t.Errorf("LatestRun: got %d, %v, want %d", latest, err, id2)
	}
}

func TestStartRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.addInstance(t, "ia", 2, "", "", 0)
	ctx := testContext(t)
	for name, spec := range map[string]migrate.Spec{
		"unknown tenant":  {Tenants: []string{"nope-tenant"}},
		"bad tenant id":   {Tenants: []string{"Bad_ID"}},
		"unknown version": {Version: 42},
		"bad concurrency": {Concurrency: -1},
		"concurrency cap": {Concurrency: migrate.MaxConcurrency + 1},
		"int4 overflow":   {Concurrency: 1 << 31},
		"canary cap":      {Canary: migrate.MaxCanary + 1},
		"lag cap":         {LagThreshold: migrate.MaxLagThreshold + time.Second},
		"bad cpu":         {CPUThreshold: 120},
		"negative canary": {Canary: -2},
		"control chars":   {RequestedBy: "eve\nforged log line"},
		"long requester":  {RequestedBy: strings.Repeat("x", 201)},
	} {
		if _, err := e.runner.Start(ctx, spec); !errors.Is(err, migrate.ErrInvalidSpec) {
			t.Errorf("%s: got %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := e.runner.Start(ctx, migrate.Spec{Instance: "nowhere"}); !errors.Is(err, migrate.ErrNoTenants) {
		t.Errorf("empty instance: got %v, want ErrNoTenants", err)
	}
	if _, err := e.runner.Status(ctx, 999999); !errors.Is(err, migrate.ErrRunNotFound) {
		t.Errorf("Status of unknown run: got %v, want ErrRunNotFound", err)
	}
}
