package migrations

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// twoStepSet is a set whose second version runs after the trap is planted.
func twoStepSet() map[string]string {
	return map[string]string{
		"00001_widgets.sql": "-- +goose Up\nCREATE TABLE widgets (id bigint PRIMARY KEY);\n",
		"00002_gadgets.sql": "-- +goose Up\nCREATE TABLE gadgets (id bigint PRIMARY KEY);\nINSERT INTO widgets VALUES (1);\n",
	}
}

func TestPlantedTrapGainsNothingWhenMigrated(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	attacker, victim := in.tenant(t), in.tenant(t)
	ctx := testContext(t)
	if _, err := in.pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{victim.Schema, "secrets"}.Sanitize()+
		" AS SELECT 'victim-row' AS v; ALTER TABLE "+pgx.Identifier{victim.Schema, "secrets"}.Sanitize()+
		" OWNER TO "+pgx.Identifier{victim.Role}.Sanitize()); err != nil {
		t.Fatalf("victim table: %v", err)
	}
	files := twoStepSet()
	first := newMigrator(t, Config{FS: sqlSet(map[string]string{"00001_widgets.sql": files["00001_widgets.sql"]})})
	login := in.as(t, attacker)
	if _, err := first.Up(ctx, login, attacker); err != nil {
		t.Fatalf("Up to 1: %v", err)
	}
	trap := cptest.PlantTenantTrap(t, in.pool, attacker.Schema, attacker.Role, [2]string{victim.Schema, "secrets"},
		cptest.TrapTable{Name: VersionTable, Column: "version_id"}, cptest.TrapTable{Name: "widgets", Column: "id"})

	res, err := newMigrator(t, Config{FS: sqlSet(files)}).Up(ctx, login, attacker)
	if err != nil || res.After != 2 {
		t.Fatalf("Up to 2 = %+v, %v; want after 2", res, err)
	}
	firings := trap.AssertGainedNothing(t, in.pool, true)
	sources := map[string]bool{}
	for _, f := range firings {
		sources[f.Source] = true
	}
	for _, want := range []string{"policy", "trigger:goose_db_version", "rule", "index", "trigger:widgets"} {
		if !sources[want] {
			t.Errorf("trap %s never fired during the migration (fired: %v)", want, sources)
		}
	}
}

func TestMigratorRefusesSessionsThatCanBecomeMore(t *testing.T) {
	t.Parallel()
	in := setup(t, 4)
	tg := in.tenant(t)
	ctx := testContext(t)
	m := newMigrator(t, Config{FS: sqlSet(twoStepSet())})

	// The admin (a superuser) may never run a tenant's migration, even
	// though it could switch to the tenant's role.
	if _, err := m.Up(ctx, in.pool, tg); !errors.Is(err, tenants.ErrNotTenantSession) {
		t.Fatalf("Up over an admin pool: error = %v, want ErrNotTenantSession", err)
	}
	if _, err := m.Version(ctx, in.pool, tg); !errors.Is(err, tenants.ErrNotTenantSession) {
		t.Fatalf("Version over an admin pool: error = %v, want ErrNotTenantSession", err)
	}
	// Nor may the tenant's login once it is a member of another role (it
	// could SET ROLE there), or holds an attribute beyond LOGIN.
	other := in.tenant(t)
	role := pgx.Identifier{tg.Role}.Sanitize()
	if _, err := in.pool.Exec(ctx, "GRANT "+pgx.Identifier{other.Role}.Sanitize()+" TO "+role); err != nil {
		t.Fatalf("grant: %v", err)
	}
	if _, err := m.Up(ctx, in.as(t, tg), tg); !errors.Is(err, tenants.ErrNotTenantSession) {
		t.Fatalf("Up as a role that is a member of another: error = %v, want ErrNotTenantSession", err)
	}
	if _, err := in.pool.Exec(ctx, "REVOKE "+pgx.Identifier{other.Role}.Sanitize()+" FROM "+role+"; ALTER ROLE "+role+" CREATEROLE"); err != nil {
		t.Fatalf("alter: %v", err)
	}
	if _, err := m.Up(ctx, in.as(t, tg), tg); !errors.Is(err, tenants.ErrNotTenantSession) {
		t.Fatalf("Up as a CREATEROLE role: error = %v, want ErrNotTenantSession", err)
	}
	if relationExists(t, in.pool, tg.Schema, VersionTable) {
		t.Fatal("a refused session created the version table")
	}
	if _, err := in.pool.Exec(ctx, "ALTER ROLE "+role+" NOCREATEROLE"); err != nil {
		t.Fatalf("alter: %v", err)
	}
	if res, err := m.Up(ctx, in.as(t, tg), tg); err != nil || res.After != 2 {
		t.Fatalf("Up as the plain tenant login = %+v, %v", res, err)
	}
}
