package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// resubmit stores another onboarding request for id (its own ticket, so it
// is not a duplicate of the first one).
func (e *env) resubmit(id, name string, tier tenants.Tier, restore bool) intake.Accepted {
	e.t.Helper()
	acc, err := e.intake.Submit(e.ctx, intake.Request{Source: intake.SourceAPI, TenantID: id, Name: name, Tier: tier,
		RequestedBy: "erin", TicketKey: fmt.Sprintf("TCK-%s-%d", id, time.Now().UnixNano()), Restore: restore})
	if err != nil {
		e.t.Fatalf("submit %s: %v", id, err)
	}
	return acc
}

// addAccount writes an account row in the tenant's schema, through the
// application's scoped pool.
func addAccount(t *testing.T, pools *tenants.Pools, id, ref string) {
	t.Helper()
	err := pools.WithTenant(t.Context(), id, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (external_ref, holder_name, currency) VALUES ($1, 'Holder', 'EUR')`, ref)
		return err
	})
	if err != nil {
		t.Fatalf("add account %s to %s: %v", ref, id, err)
	}
}

// accountRefs lists the tenant's account refs through the scoped pool.
func accountRefs(t *testing.T, pools *tenants.Pools, id string) []string {
	t.Helper()
	var refs []string
	err := pools.WithTenant(t.Context(), id, func(ctx context.Context, tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT external_ref FROM accounts ORDER BY 1`)
		var err error
		refs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatalf("read accounts of %s: %v", id, err)
	}
	return refs
}

// olderMigrations is the embedded set without its newest migration.
func olderMigrations(t *testing.T) (*migrations.Migrator, int64) {
	t.Helper()
	full, err := migrations.New(migrations.Config{})
	if err != nil {
		t.Fatal(err)
	}
	versions := full.Versions()
	files, err := fs.Glob(migrations.Embedded(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	set := fstest.MapFS{}
	for _, f := range files[:len(files)-1] {
		b, err := fs.ReadFile(migrations.Embedded(), f)
		if err != nil {
			t.Fatal(err)
		}
		set[f] = &fstest.MapFile{Data: b}
	}
	older, err := migrations.New(migrations.Config{FS: set})
	if err != nil {
		t.Fatal(err)
	}
	if older.Latest() != versions[len(versions)-2] {
		t.Fatalf("older set ends at %d, want %d", older.Latest(), versions[len(versions)-2])
	}
	return older, full.Latest()
}

func (e *env) schemaVersion(id string) int64 {
	e.t.Helper()
	tn, err := e.catalog.GetTenant(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	inst, err := e.catalog.GetInstance(e.ctx, tn.InstanceID)
	if err != nil {
		e.t.Fatal(err)
	}
	names, _ := tenants.NamesFor(e.fleet, id)
	pool, err := e.sessions.Tenant(e.ctx, inst, names, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer pool.Close()
	v, err := e.agent.cfg.Migrator.Version(e.ctx, pool, migrations.Target{Schema: names.Schema, Role: names.Role})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// Finding 6: an offboarded tenant is onboarded again with its archived
// schema restored: its data is back, its schema brought to the latest
// migration (the archive was older), its login and the application role's
// membership back. A worker killed right after the rename finishes on
// retry with one restore recorded.
func TestReonboardRestoresArchivedSchema(t *testing.T) {
	older, latest := olderMigrations(t)
	crash := false
	e := setup(t, func(c *Config) {
		c.Migrator = older
		c.afterStep = func(step string) error {
			if step == StepEnsure && crash {
				return errors.New("killed after ensure")
			}
			return nil
		}
	})
	e.onboard("comeback", tenants.Shared)
	pools := e.pools()
	addAccount(t, pools, "comeback", "kept-1")
	e.offboardNow("comeback", offboard.ActionArchive)
	if _, member, login := e.access("comeback"); member || login {
		t.Fatalf("offboarded: member %v login %v, want neither", member, login)
	}

	full, err := migrations.New(migrations.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.agent.cfg.Migrator = full
	acc := e.resubmit("comeback", "Comeback Again", tenants.Shared, true)
	crash = true
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err == nil {
		t.Fatal("want the injected crash after ensure")
	}
	crash = false
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	tn, _ := e.catalog.GetTenant(e.ctx, "comeback")
	if tn.Status != tenants.TenantActive || tn.Name != "Comeback Again" {
		t.Errorf("tenant: %s %q, want active \"Comeback Again\"", tn.Status, tn.Name)
	}
	if got := accountRefs(t, pools, "comeback"); !slices.Equal(got, []string{"kept-1"}) {
		t.Errorf("accounts after restore: %v, want [kept-1]", got)
	}
	if got := e.schemaVersion("comeback"); got != latest {
		t.Errorf("restored schema at version %d, want the latest %d", got, latest)
	}
	if exists, member, login := e.access("comeback"); !exists || !member || !login {
		t.Errorf("restored: role %v, app member %v, login %v; want all true", exists, member, login)
	}
	_, _, schemas := e.serverState()
	if got := schemas[tn.Database]; !slices.Equal(got, []string{"t_comeback"}) {
		t.Errorf("schemas: %v, want [t_comeback]", got)
	}
	if got := e.auditCount("comeback", ActionRestore, "done"); got != 1 {
		t.Errorf("restore audit entries: %d, want 1", got)
	}
	if got := e.auditCount("comeback", ActionProvision, "done"); got != 2 {
		t.Errorf("provision audit entries: %d, want 2 (first onboarding, re-onboarding)", got)
	}
	archives, _ := controlplane.NewStore(e.db).TenantArchives(e.ctx, "comeback")
	if len(archives) != 0 {
		t.Errorf("archives still restorable: %+v", archives)
	}
}

// Fresh re-onboarding, two archives of one schema on one day, restoring
// the newest, and a purge that drops every archive and the role but no
// neighbour's archive, and keeps the audit history.
func TestReonboardFreshArchiveTwiceRestoreNewestThenPurge(t *testing.T) {
	e := setup(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	e.agent.cfg.Now = func() time.Time { return now }
	pools := e.pools()
	// A neighbour whose archive name extends the tenant's archive prefix.
	e.onboard("cycler-20261126", tenants.Shared)
	e.offboardNow("cycler-20261126", offboard.ActionArchive)

	e.onboard("cycler", tenants.Shared)
	addAccount(t, pools, "cycler", "first")
	e.offboardNow("cycler", offboard.ActionArchive)

	e.runOnboarding(e.resubmit("cycler", "Cycler", tenants.Shared, false))
	if got := e.tenantStatus("cycler"); got != tenants.TenantActive {
		t.Fatalf("fresh re-onboarding: %s, want active", got)
	}
	if got := accountRefs(t, pools, "cycler"); len(got) != 0 {
		t.Errorf("fresh schema holds %v, want nothing", got)
	}
	addAccount(t, pools, "cycler", "second")
	e.offboardNow("cycler", offboard.ActionArchive)

	tn, _ := e.catalog.GetTenant(e.ctx, "cycler")
	_, _, schemas := e.serverState()
	want := []string{"archived_t_cycler_20261126", "archived_t_cycler_20261126_2", "archived_t_cycler_20261126_20261126"}
	if got := schemas[tn.Database]; !slices.Equal(got, want) {
		t.Fatalf("schemas: %v, want %v", got, want)
	}

	e.runOnboarding(e.resubmit("cycler", "Cycler", tenants.Shared, true))
	if got := accountRefs(t, pools, "cycler"); !slices.Equal(got, []string{"second"}) {
		t.Errorf("restored the wrong archive: accounts %v, want [second]", got)
	}
	e.offboardNow("cycler", offboard.ActionArchive)

	var auditBefore int
	_ = e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = 'cycler'`).Scan(&auditBefore)
	acc := e.offboardNow("cycler", offboard.ActionPurge)
	if acc.Action != offboard.ActionPurge {
		t.Fatalf("accepted %+v", acc)
	}
	_, _, schemas = e.serverState()
	if got, want := schemas[tn.Database], []string{"archived_t_cycler_20261126_20261126"}; !slices.Equal(got, want) {
		t.Errorf("after purge: %v, want only the neighbour's archive %v", got, want)
	}
	if exists, _, _ := e.access("cycler"); exists {
		t.Error("role survived the purge")
	}
	if exists, _, _ := e.access("cycler-20261126"); !exists {
		t.Error("the neighbour's role was dropped")
	}
	tn, _ = e.catalog.GetTenant(e.ctx, "cycler")
	if tn.Status != tenants.TenantOffboarded || !strings.HasPrefix(tn.StatusReason, "purged by") {
		t.Errorf("tenant after purge: %s %q", tn.Status, tn.StatusReason)
	}
	var auditAfter int
	_ = e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = 'cycler'`).Scan(&auditAfter)
	if auditAfter <= auditBefore || e.auditCount("cycler", offboard.AuditPurge, "done") != 1 {
		t.Errorf("audit history: %d entries before the purge, %d after, want kept and the purge added", auditBefore, auditAfter)
	}
	// A repeated purge answers as the one done.
	again, err := e.outbox.Submit(e.ctx, offboard.Request{TenantID: "cycler", Action: offboard.ActionPurge, RequestedBy: "dave"})
	if err != nil {
		t.Fatalf("purge again: %v", err)
	}
	if !again.Duplicate || again.RequestID != acc.RequestID || again.Status != offboard.StatusDone {
		t.Errorf("purge again: %+v, want the done request %d as a duplicate", again, acc.RequestID)
	}

	// Nothing to restore any more; a fresh onboarding works.
	restore := e.resubmit("cycler", "Cycler", tenants.Shared, true)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, restore)); !errors.Is(err, ErrPermanent) {
		t.Fatalf("restore after purge: %v, want ErrPermanent", err)
	}
	rec, _ := e.intake.Get(e.ctx, restore.RequestID)
	if rec.Status != intake.StatusFailed || !strings.Contains(rec.Error, "no archived schema") {
		t.Errorf("restore request: %s %q, want failed: no archived schema", rec.Status, rec.Error)
	}
	if got := e.tenantStatus("cycler"); got != tenants.TenantOffboarded {
		t.Errorf("after the refused restore: %s, want offboarded", got)
	}
	e.runOnboarding(e.resubmit("cycler", "Cycler", tenants.Shared, false))
	if exists, member, login := e.access("cycler"); !exists || !member || !login || e.tenantStatus("cycler") != tenants.TenantActive {
		t.Errorf("fresh after purge: role %v member %v login %v status %s", exists, member, login, e.tenantStatus("cycler"))
	}
}

// A dedicated tenant offboarded with drop lost its instance; onboarded
// again it gets a new one.
func TestReonboardDedicatedAfterDropCreatesItsInstanceAgain(t *testing.T) {
	e := setup(t)
	e.onboard("big-bank", tenants.Dedicated)
	e.offboardNow("big-bank", offboard.ActionDrop)
	inst, _ := e.catalog.GetInstance(e.ctx, "big-bank")
	if inst.Status != provider.StatusDeleted {
		t.Fatalf("instance after drop: %s, want deleted", inst.Status)
	}
	e.runOnboarding(e.resubmit("big-bank", "Big Bank", tenants.Dedicated, false))
	if got := e.tenantStatus("big-bank"); got != tenants.TenantActive {
		t.Fatalf("status %s, want active", got)
	}
	if inst, _ = e.catalog.GetInstance(e.ctx, "big-bank"); inst.Status != provider.StatusReady {
		t.Errorf("instance: %s, want ready", inst.Status)
	}
	pools := e.pools()
	addAccount(t, pools, "big-bank", "new-1")
}

// Restoring what cannot be restored fails visibly before anything is
// touched: a tenant never offboarded, and a tenant dropped (no archive).
func TestRestoreRefusedWithoutArchive(t *testing.T) {
	e := setup(t)
	newcomer := e.resubmit("newcomer", "Newcomer", tenants.Shared, true)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, newcomer)); !errors.Is(err, ErrPermanent) {
		t.Fatalf("restore of a new tenant: %v, want ErrPermanent", err)
	}
	if rec, _ := e.intake.Get(e.ctx, newcomer.RequestID); rec.Status != intake.StatusFailed || !strings.Contains(rec.Error, "nothing to restore") {
		t.Errorf("request: %s %q, want failed: nothing to restore", rec.Status, rec.Error)
	}
	if _, err := e.catalog.GetTenant(e.ctx, "newcomer"); !errors.Is(err, tenants.ErrTenantNotFound) {
		t.Errorf("the refused restore created the tenant: %v", err)
	}

	e.onboard("dropped", tenants.Shared)
	e.offboardNow("dropped", offboard.ActionDrop)
	acc := e.resubmit("dropped", "Dropped", tenants.Shared, true)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); !errors.Is(err, ErrPermanent) {
		t.Fatalf("restore after drop: %v, want ErrPermanent", err)
	}
	if got := e.tenantStatus("dropped"); got != tenants.TenantOffboarded {
		t.Errorf("tenant: %s, want offboarded (untouched)", got)
	}
	if exists, _, _ := e.access("dropped"); exists {
		t.Error("the refused restore created the role")
	}
}
