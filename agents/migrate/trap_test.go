package migrate_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// A tenant that planted a policy, a trigger, a rule and a lying IMMUTABLE
// function on its own objects gains nothing from the fleet migrating it:
// the migration runs logged in as the tenant, so RESET ROLE inside the trap
// leads back to the tenant, and the neighbour's rows stay out of reach.
func TestFleetMigrationGivesPlantedTrapNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	in := e.addInstance(t, "ia", 2, "", "", 0)
	e.startWorker(t, e.runner, 4)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{Version: 1})
	if err != nil {
		t.Fatalf("Start to 1: %v", err)
	}
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("run to 1: %s %+v", st.Status, st.Counts)
	}
	attacker, _ := tenants.NamesFor(e.fleet, in.tenants[0])
	victim, _ := tenants.NamesFor(e.fleet, in.tenants[1])
	admin := e.instancePool(t, in)
	secrets := pgx.Identifier{victim.Schema, "secrets"}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE TABLE "+secrets+" AS SELECT 'victim-row'::text AS secret; ALTER TABLE "+secrets+
		" OWNER TO "+pgx.Identifier{victim.Role}.Sanitize()); err != nil {
		t.Fatalf("victim table: %v", err)
	}
	trap := cptest.PlantTenantTrap(t, admin, attacker.Schema, attacker.Role, [2]string{victim.Schema, "secrets"},
		cptest.TrapTable{Name: migrations.VersionTable, Column: "version_id"}, cptest.TrapTable{Name: "widgets", Column: "id"})

	id, err = e.runner.Start(ctx, migrate.Spec{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := e.wait(t, id); st.Status != migrate.RunSucceeded {
		t.Fatalf("run: %s %+v %+v", st.Status, st.Counts, st.Failed())
	}
	if got := e.version(t, in, in.tenants[0]); got != 3 {
		t.Fatalf("attacker version %d, want 3", got)
	}
	trap.AssertGainedNothing(t, admin, true)
}
