package migrate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// breakTenant creates, in the tenant's schema, the table migration 2 of
// tracedSteps creates, so that migration fails there.
func (e *env) breakTenant(t testing.TB, inst instance, tenantID string) (fix func()) {
	t.Helper()
	names, _ := tenants.NamesFor(e.fleet, tenantID)
	table := pgx.Identifier{names.Schema, "gadgets"}.Sanitize()
	pool := e.instancePool(t, inst)
	if _, err := pool.Exec(testContext(t), "CREATE TABLE "+table+" (x int)"); err != nil {
		t.Fatalf("break tenant: %v", err)
	}
	return func() {
		if _, err := pool.Exec(testContext(t), "DROP TABLE "+table); err != nil {
			t.Fatalf("fix tenant: %v", err)
		}
	}
}

func TestFailureIsIsolatedAndRetryFixesIt(t *testing.T) {
	t.Parallel()
	e := setup(t, options{fsys: tracedSteps})
	a := e.addInstance(t, "ia", 12, "", "", 0)
	e.createTrace(t, a)
	bad := a.tenants[5]
	fix := e.breakTenant(t, a, bad)
	e.startWorker(t, e.runner, 6)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 4})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := e.wait(t, id)
	if got, want := st.Status, migrate.RunFailed; got != want {
		t.Fatalf("run: got %s, want %s", got, want)
	}
	if got, want := st.Counts, (migrate.Counts{Total: 12, Succeeded: 11, Failed: 1}); got != want {
		t.Errorf("counts: got %+v, want %+v", got, want)
	}
	failed := st.Failed()
	if len(failed) != 1 || failed[0].TenantID != bad {
		t.Fatalf("failed tenants: got %+v, want only %s", failed, bad)
	}
	f := failed[0]
	if !strings.Contains(f.Error, "already exists") || !strings.Contains(f.Error, "version 2") {
		t.Errorf("error text: got %q, want the duplicate table of version 2", f.Error)
	}
	if f.Attempts != 1 {
		t.Errorf("attempts of an SQL error: got %d, want 1 (not retried)", f.Attempts)
	}
	if f.VersionAfter == nil || *f.VersionAfter != 1 {
		t.Errorf("version after: got %v, want 1 (migration 1 kept)", f.VersionAfter)
	}
	for _, tid := range a.tenants {
		want := int64(3)
		if tid == bad {
			want = 1
		}
		if got := e.version(t, a, tid); got != want {
			t.Errorf("tenant %s: version %d, want %d", tid, got, want)
		}
	}
	if _, err := e.runner.Retry(ctx, 999999); !errors.Is(err, migrate.ErrRunNotFound) {
		t.Errorf("Retry unknown run: got %v, want ErrRunNotFound", err)
	}

	fix()
	n, err := e.runner.Retry(ctx, id)
	if err != nil || n != 1 {
		t.Fatalf("Retry: got %d, %v, want 1 tenant", n, err)
	}
	st = e.wait(t, id)
	if got, want := st.Status, migrate.RunSucceeded; got != want {
		t.Fatalf("after retry: got %s, want %s (%+v)", got, want, st.Failed())
	}
	if got := e.version(t, a, bad); got != 3 {
		t.Errorf("retried tenant: version %d, want 3", got)
	}
	// Every migration ran once per tenant: the retry re-ran only the
	// failed tenant's missing ones.
	if got, want := len(e.trace(t, a)), 3*12; got != want {
		t.Errorf("migrations traced: got %d, want %d", got, want)
	}
	if n, err := e.runner.Retry(ctx, id); err != nil || n != 0 {
		t.Errorf("Retry of a succeeded run: got %d, %v, want 0, nil", n, err)
	}
}

func TestCanaryFailureStopsTheRun(t *testing.T) {
	t.Parallel()
	e := setup(t, options{fsys: tracedSteps})
	a := e.addInstance(t, "ia", 8, "", "", 0)
	e.createTrace(t, a)
	fix := e.breakTenant(t, a, a.tenants[0])
	e.startWorker(t, e.runner, 6)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{Canary: 2})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := e.wait(t, id)
	if got, want := st.Status, migrate.RunStopped; got != want {
		t.Fatalf("run: got %s, want %s", got, want)
	}
	if !strings.Contains(st.Reason, a.tenants[0]) {
		t.Errorf("reason: got %q, want it to name %s", st.Reason, a.tenants[0])
	}
	if got, want := st.Counts, (migrate.Counts{Total: 8, Pending: 6, Succeeded: 1, Failed: 1}); got != want {
		t.Errorf("counts: got %+v, want %+v", got, want)
	}
	for _, tid := range a.tenants[2:] {
		if got := e.version(t, a, tid); got != 0 {
			t.Errorf("non-canary tenant %s: version %d, want 0 (never started)", tid, got)
		}
	}

	fix()
	if n, err := e.runner.Retry(ctx, id); err != nil || n != 1 {
		t.Fatalf("Retry: got %d, %v, want 1", n, err)
	}
	st = e.wait(t, id)
	if got, want := st.Status, migrate.RunSucceeded; got != want {
		t.Fatalf("after retry: got %s, want %s (%+v)", got, want, st.Counts)
	}
	for _, tid := range a.tenants {
		if got := e.version(t, a, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
}
