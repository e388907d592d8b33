package migrate_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// pgBin is where the PostgreSQL 15 server binaries are.
var pgBin = getenvOr("MIGRATE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin")

// privateCluster is a PostgreSQL server of the test's own, so the test may
// crash and restart it without disturbing anyone.
type privateCluster struct {
	dir  string
	port int
	run  func(args ...string) error
}

// startCluster initdb's a cluster in a temporary directory, starts it on a
// free port and stops it when the test ends. As root, the server runs as
// the postgres user.
func startCluster(t *testing.T) *privateCluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "pg_ctl")); err != nil {
		t.Fatalf("PostgreSQL binaries not found in %s (set MIGRATE_TEST_PG_BIN): %v", pgBin, err)
	}
	dir, err := os.MkdirTemp("", "migrate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var prefix []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	c := &privateCluster{dir: dir, port: port}
	c.run = func(args ...string) error {
		args[0] = filepath.Join(pgBin, args[0])
		all := append(append([]string{}, prefix...), args...)
		// Output goes to a file, not a pipe: the server started by pg_ctl
		// inherits it and would hold a pipe open for its whole life.
		out, err := os.CreateTemp(dir, "cmd-*.out")
		if err != nil {
			return err
		}
		defer out.Close()
		cmd := exec.Command(all[0], all[1:]...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			text, _ := os.ReadFile(out.Name())
			return fmt.Errorf("%v: %w\n%s", args, err, text)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatal(err)
	}
	if err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o", c.options(), "start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"); err != nil {
			t.Logf("stop private cluster: %v", err)
		}
	})
	return c
}

func (c *privateCluster) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir)
}

func (c *privateCluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// restart crashes the server (immediate shutdown: no checkpoint, backends
// killed, crash recovery at start) and starts it again.
func (c *privateCluster) restart() error {
	return c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "-o", c.options(), "restart")
}

// TestPostgresRestartMidRun crashes the instance's PostgreSQL while tenants
// migrate: every tenant is then either at a version with all of that
// version's objects or without any of them (each transactional migration
// all or nothing), and the run completes by itself afterwards.
func TestPostgresRestartMidRun(t *testing.T) {
	t.Parallel()
	pg := startCluster(t)
	ctx := testContext(t)
	admin, err := pgx.Connect(ctx, pg.url("postgres"))
	if err != nil {
		t.Fatalf("connect to private cluster: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE tenants"); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close(ctx)

	e := setup(t, options{fsys: tracedSteps, adminURL: pg.url("postgres"), maxAttempts: 50})
	a := e.addInstance(t, "ia", 30, "tenants", "127.0.0.1", pg.port)
	e.createTrace(t, a)
	e.startWorker(t, e.runner, 6)

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 3})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitFor(t, "a few tenants migrated", func() bool {
		st, err := e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Succeeded >= 5
	})
	before, _ := e.runner.Progress(ctx, id)
	if err := pg.restart(); err != nil {
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
func (e *env) checkAllOrNothing(t *testing.T, pg *privateCluster, inst instance) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var conn *pgx.Conn
	waitFor(t, "the private cluster to accept connections", func() bool {
		var err error
		conn, err = pgx.Connect(ctx, pg.url(inst.database))
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
