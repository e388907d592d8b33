package migrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestPostgresRestartMidRun crashes the instance's PostgreSQL while tenants
// migrate: every tenant is then either at a version with all of that
// version's objects or without any of them (each transactional migration
// all or nothing), and the run completes by itself afterwards.
func TestPostgresRestartMidRun(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"fsync": "off", "max_connections": "50"}})
	ctx := testContext(t)
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to private cluster: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE tenants"); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close(ctx)

	e := setup(t, options{fsys: tracedSteps, adminURL: pg.URL("postgres"), maxAttempts: 50})
	a := e.addInstance(t, "ia", 30, "tenants", "127.0.0.1", pg.Port)
	e.createTrace(t, a)
	e.startWorker(t, e.runner, 6)

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 3})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually.True(t, time.Minute, "a few tenants migrated", func() bool {
		st, err := e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Succeeded >= 5
	})
	before, _ := e.runner.Progress(ctx, id)
	if err := pg.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	st, _ := e.runner.Progress(ctx, id)
	t.Logf("restarted PostgreSQL: before %+v, after %+v", before.Counts, st.Counts)
	if st.Counts.Finished() == st.Counts.Total {
		t.Fatalf("the run finished before the restart: %+v", st.Counts)
	}
	partial := e.checkAllOrNothing(t, pg, a)
	t.Logf("right after the restart: %d tenants between versions 0 and 3", partial)

	st = e.wait(t, id)
	if st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Failed())
	}
	e.checkAllOrNothing(t, pg, a)
	for _, tid := range a.tenants {
		if got := e.version(t, a, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
	retried := 0
	for _, tr := range st.Tenants {
		if tr.Attempts > 1 {
			retried++
		}
	}
	t.Logf("%d tenants needed more than one attempt", retried)
}

// checkAllOrNothing reads every tenant in one snapshot and checks that the
// objects of each transactional migration (and its trace row) exist exactly
// when its version is recorded. It returns how many tenants sit between
// version 0 and 3.
func (e *env) checkAllOrNothing(t *testing.T, pg *pgtest.Cluster, inst instance) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var conn *pgx.Conn
	eventually.True(t, time.Minute, "the private cluster to accept connections", func() bool {
		var err error
		conn, err = pgx.Connect(ctx, pg.URL(inst.database))
		return err == nil
	})
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	partial := 0
	for _, tid := range inst.tenants {
		names, _ := tenants.NamesFor(e.fleet, tid)
		q := func(name string) string { return pgx.Identifier{names.Schema, name}.Sanitize() }
		var version int64
		var hasVersions, widgets, gadgets, status bool
		var traced int
		// pg_class and pg_attribute are read as tables, in the
		// transaction's snapshot; to_regclass would use a fresh catalog
		// snapshot and see a migration that committed after the snapshot
		// the version table and the trace are read in.
		err := tx.QueryRow(ctx, `WITH rel AS (
				SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)
			SELECT EXISTS (SELECT 1 FROM rel WHERE relname = 'goose_db_version'),
			       EXISTS (SELECT 1 FROM rel WHERE relname = 'widgets'),
			       EXISTS (SELECT 1 FROM rel WHERE relname = 'gadgets'),
			       EXISTS (SELECT 1 FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
			               WHERE rel.relname = 'widgets' AND a.attname = 'status' AND NOT a.attisdropped),
			       (SELECT count(*) FROM public.mig_trace WHERE schema = $1)`,
			names.Schema).Scan(&hasVersions, &widgets, &gadgets, &status, &traced)
		if err == nil && hasVersions {
			err = tx.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+q("goose_db_version")+` WHERE is_applied`).Scan(&version)
		}
		if err != nil {
			t.Fatalf("read tenant %s: %v", tid, err)
		}
		if got := [3]bool{widgets, gadgets, status}; got != [3]bool{version >= 1, version >= 2, version >= 3} || traced != int(version) {
			t.Errorf("tenant %s at version %d: got widgets %v, gadgets %v, status column %v, %d traced; want exactly versions 1..%d",
				tid, version, widgets, gadgets, status, traced, version)
		}
		if version > 0 && version < 3 {
			partial++
		}
	}
	return partial
}
