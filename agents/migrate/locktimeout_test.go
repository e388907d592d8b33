package migrate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestBusyTableLockTimesOutAndRetries holds a lock on one tenant's table
// that CREATE INDEX CONCURRENTLY (migration 2, outside a transaction)
// needs: the migration gives up after the lock timeout instead of queueing
// writers behind it, the tenant is retried, and it completes once the lock
// is gone.
func TestBusyTableLockTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	e := setup(t, options{lockTimeout: 200 * time.Millisecond, maxAttempts: 20})
	a := e.addInstance(t, "ia", 4, "", "", 0)
	e.startWorker(t, e.runner, 4)
	ctx := testContext(t)

	// Everyone to version 1 first, so the table exists.
	id, err := e.runner.Start(ctx, migrate.Spec{Version: 1})
	if err != nil {
		t.Fatalf("Start v1: %v", err)
	}
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("v1 run: got %s", st.Status)
	}

	busy := a.tenants[2]
	names, _ := tenants.NamesFor(e.fleet, busy)
	holder, err := e.instancePool(t, a).Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = holder.Rollback(ctx) }()
	if _, err := holder.Exec(ctx, "LOCK TABLE "+pgx.Identifier{names.Schema, "widgets"}.Sanitize()+" IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock: %v", err)
	}

	id, err = e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var tr migrate.TenantResult
	eventually.True(t, time.Minute, "the busy tenant to fail on the lock timeout and wait for a retry", func() bool {
		st, err := e.runner.Status(ctx, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		for _, r := range st.Tenants {
			if r.TenantID == busy {
				tr = r
			}
		}
		return tr.Attempts >= 2 && tr.Status != migrate.TenantRunning
	})
	if tr.Status != migrate.TenantPending || !strings.Contains(tr.Error, "lock timeout") || !strings.Contains(tr.Reason, "transient") {
		t.Errorf("busy tenant: got %s %q error %q, want pending for a retry after a lock timeout", tr.Status, tr.Reason, tr.Error)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatalf("release lock: %v", err)
	}
	st := e.wait(t, id)
	if st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Failed())
	}
	for _, tid := range a.tenants {
		if got := e.version(t, a, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
	var valid bool
	if err := e.instancePool(t, a).QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`,
		pgx.Identifier{names.Schema, "widgets_name_idx"}.Sanitize()).Scan(&valid); err != nil || !valid {
		t.Errorf("index of the busy tenant: valid %v, %v; want a valid index", valid, err)
	}
}
