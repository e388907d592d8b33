package main

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// auditFixture is a control plane and instance databases of a fleet in
// which each test plants the end state of a chaos run by hand.
type auditFixture struct {
	t        *testing.T
	ctx      context.Context
	cp       *pgxpool.Pool
	adminURL string
	fleet    string
	dbs      map[string]*pgx.Conn // instance id -> superuser session on its database
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	_, cp := cptest.Database(t)
	fx := &auditFixture{t: t, ctx: ctx, cp: cp, fleet: cptest.UniqueName("fa"), dbs: map[string]*pgx.Conn{},
		adminURL: config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")}
	cptest.DropFleetOnCleanup(t, fx.fleet)
	return fx
}

// instance creates a ready shared instance: a database named as the local
// provider names it, and its row.
func (fx *auditFixture) instance(id string) {
	fx.t.Helper()
	db := local.DatabaseName(fx.fleet, id)
	admin, err := pgx.Connect(fx.ctx, fx.adminURL)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer admin.Close(fx.ctx)
	if _, err := admin.Exec(fx.ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		fx.t.Fatal(err)
	}
	conn, err := pgx.Connect(fx.ctx, config.WithDatabase(fx.adminURL, db))
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.t.Cleanup(func() { conn.Close(context.Background()) })
	fx.dbs[id] = conn
	fx.exec(`INSERT INTO instances (id, provider, tier, status, database_name) VALUES ($1, 'local', 'shared', 'ready', $2)`, id, db)
}

func (fx *auditFixture) exec(sql string, args ...any) {
	fx.t.Helper()
	if _, err := fx.cp.Exec(fx.ctx, sql, args...); err != nil {
		fx.t.Fatalf("%s: %v", sql, err)
	}
}

// tenant records tenant id with status on instance inst ("" for none), its
// request with requestStatus ("" for none) and done audit rows.
func (fx *auditFixture) tenant(id, status, inst, requestStatus string, provisionDone int) {
	fx.t.Helper()
	var db string
	if inst != "" {
		db = local.DatabaseName(fx.fleet, inst)
	}
	fx.exec(`INSERT INTO tenants (id, name, tier, status, instance_id, database_name, schema_name)
		VALUES ($1, $1, 'shared', $2, nullif($3, ''), $4, $5)`, id, status, inst, db, tenants.SchemaName(id))
	if requestStatus != "" {
		fx.exec(`INSERT INTO intake_requests (source, ticket_key, tenant_id, name, tier, status)
			VALUES ('ticket', $1, $1, $1, 'shared', $2)`, id, requestStatus)
	}
	for range provisionDone {
		fx.audit(provision.ActionProvision, id)
	}
}

func (fx *auditFixture) audit(action, tenant string) {
	fx.t.Helper()
	if err := audit.Record(fx.ctx, fx.cp, audit.Entry{Actor: "test", Action: action, TenantID: tenant, Outcome: audit.OutcomeDone}); err != nil {
		fx.t.Fatal(err)
	}
}

// schema creates schema on instance inst with markerRows rows in the
// marker table (-1: no marker table).
func (fx *auditFixture) schema(inst, schema string, markerRows int) {
	fx.t.Helper()
	conn := fx.dbs[inst]
	if _, err := conn.Exec(fx.ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		fx.t.Fatal(err)
	}
	if markerRows < 0 {
		return
	}
	table := pgx.Identifier{schema, markerTable}.Sanitize()
	if _, err := conn.Exec(fx.ctx, "CREATE TABLE "+table+" (applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
		fx.t.Fatal(err)
	}
	for range markerRows {
		if _, err := conn.Exec(fx.ctx, "INSERT INTO "+table+" DEFAULT VALUES"); err != nil {
			fx.t.Fatal(err)
		}
	}
}

// run records a migration run with status and tenants of the given statuses.
func (fx *auditFixture) run(status string, tenantStatus map[string]string) {
	fx.t.Helper()
	var id int64
	if err := fx.cp.QueryRow(fx.ctx, `INSERT INTO migration_runs (status, target_version, concurrency, cpu_threshold, lag_threshold_ms)
		VALUES ($1, 99999, 5, 100, 10000) RETURNING id`, status).Scan(&id); err != nil {
		fx.t.Fatal(err)
	}
	i := 0
	for tenant, st := range tenantStatus {
		fx.exec(`INSERT INTO migration_run_tenants (run_id, tenant_id, instance_id, ordinal, status) VALUES ($1, $2, '001-shared', $3, $4)`,
			id, tenant, i, st)
		i++
	}
}

func (fx *auditFixture) audited(accepted, offboards []string, runs int) auditResult {
	fx.t.Helper()
	res, err := chaosAudit{cp: fx.cp, adminURL: fx.adminURL, fleet: fx.fleet, accepted: accepted, offboards: offboards,
		runs: runs, marker: true}.run(fx.ctx)
	if err != nil {
		fx.t.Fatalf("audit: %v", err)
	}
	return res
}

func wantCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestChaosAuditCleanEndState: a run where everything went right audits
// as all zero.
func TestChaosAuditCleanEndState(t *testing.T) {
	t.Parallel()
	fx := newAuditFixture(t)
	fx.instance("001-shared")
	fx.tenant("ok-one", "active", "001-shared", "done", 1)
	fx.schema("001-shared", "t_ok_one", 1)
	fx.tenant("ok-gone", "offboarded", "001-shared", "done", 1)
	fx.audit(provision.ActionOffboard, "ok-gone")
	fx.schema("001-shared", provision.ArchivedSchemaName("t_ok_gone", "20261201"), 1)
	fx.run("succeeded", map[string]string{"ok-one": "succeeded", "ok-gone": "failed"})

	res := fx.audited([]string{"ok-one", "ok-gone"}, []string{"ok-gone"}, 1)
	wantCounts(t, "lost", res.Lost, map[string]int{})
	wantCounts(t, "duplicates", res.Duplicates, map[string]int{})
	wantCounts(t, "stuck", res.Stuck, map[string]int{})
	if res.Active != 1 || res.Offboarded != 1 || res.Unmigrated != 0 || res.Broken != 0 || res.MigrationFailed != 0 {
		t.Errorf("active %d offboarded %d unmigrated %d broken %d migration failed %d, want 1 1 0 0 0 (a run failing a tenant offboarded under it is no failure)",
			res.Active, res.Offboarded, res.Unmigrated, res.Broken, res.MigrationFailed)
	}
}

// TestChaosAuditDetectsEachFailure plants one of every failure the chaos
// scenario reports and wants each counted once, under its cause.
func TestChaosAuditDetectsEachFailure(t *testing.T) {
	t.Parallel()
	fx := newAuditFixture(t)
	fx.instance("001-shared")
	fx.instance("002-shared") // holds a second schema of one tenant, no tenant placed
	fx.instance("003-shared") // a second spare: created twice

	// Lost: accepted, never active.
	fx.tenant("lost-failed", "failed", "", "failed", 0)
	fx.tenant("lost-stuck", "provisioning", "001-shared", "enqueued", 0) // also stuck
	// lost-missing: accepted, nothing stored at all.

	// Duplicates.
	fx.tenant("dup-audit", "active", "001-shared", "done", 2)
	fx.schema("001-shared", "t_dup_audit", 1)
	fx.tenant("dup-schema", "active", "001-shared", "done", 1)
	fx.schema("001-shared", "t_dup_schema", 1)
	fx.schema("002-shared", "t_dup_schema", 1)
	fx.tenant("dup-marker", "active", "001-shared", "done", 1)
	fx.schema("001-shared", "t_dup_marker", 2)
	fx.tenant("dup-offboard", "offboarded", "001-shared", "done", 1)
	fx.audit(provision.ActionOffboard, "dup-offboard")
	fx.audit(provision.ActionOffboard, "dup-offboard")
	fx.schema("001-shared", provision.ArchivedSchemaName("t_dup_offboard", "20261201"), 1)

	// Stuck offboarding: asked, still active (its task was lost).
	fx.tenant("off-stuck", "active", "001-shared", "done", 1)
	fx.schema("001-shared", "t_off_stuck", 1)

	// Unmigrated and broken.
	fx.tenant("unmigrated", "active", "001-shared", "done", 1)
	fx.schema("001-shared", "t_unmigrated", -1)
	fx.tenant("no-schema", "active", "001-shared", "done", 1)
	fx.tenant("still-live", "offboarded", "001-shared", "done", 1)
	fx.audit(provision.ActionOffboard, "still-live")
	fx.schema("001-shared", "t_still_live", 1)

	// Runs: two where one was asked for; the first hangs with a tenant
	// pending, the second has every tenant finished but is not closed.
	fx.run("running", map[string]string{"dup-audit": "pending", "dup-marker": "succeeded", "unmigrated": "failed"})
	fx.run("running", map[string]string{"dup-audit": "succeeded"})

	accepted := []string{"lost-failed", "lost-stuck", "lost-missing", "dup-audit", "dup-schema", "dup-marker",
		"dup-offboard", "off-stuck", "unmigrated", "no-schema", "still-live"}
	res := fx.audited(accepted, []string{"dup-offboard", "off-stuck", "still-live"}, 1)

	wantCounts(t, "lost", res.Lost, map[string]int{"failed": 1, "unfinished": 1, "missing": 1})
	wantCounts(t, "duplicates", res.Duplicates, map[string]int{"provision_done_rows": 1, "schemas": 1, "marker_rows": 1,
		"offboard_done_rows": 1, "migration_runs": 1, "spare_instances": 1})
	wantCounts(t, "stuck", res.Stuck, map[string]int{"onboarding": 1, "offboarding": 1, "migration": 2})
	if res.Unmigrated != 1 || res.Broken != 2 || res.MigrationFailed != 1 {
		t.Errorf("unmigrated %d broken %d migration failed %d, want 1 2 1", res.Unmigrated, res.Broken, res.MigrationFailed)
	}
	if res.Active != 6 || res.Offboarded != 2 {
		t.Errorf("active %d offboarded %d, want 6 and 2", res.Active, res.Offboarded)
	}
}
