package provision

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// A tenant whose onboarding is retried after its schema was migrated, and
// that planted a policy, a trigger, a rule and a lying IMMUTABLE function
// on its version table in between, gains nothing from the retry (which
// re-ensures its role and schema and migrates it again), nor from being
// offboarded afterwards.
func TestProvisioningGivesPlantedTrapNothing(t *testing.T) {
	crashAfterMigrate := true
	e := setup(t, func(c *Config) {
		c.afterStep = func(step string) error {
			if step == StepMigrate && crashAfterMigrate {
				return errors.New("killed after migrate")
			}
			return nil
		}
	})
	crashAfterMigrate = false
	e.onboard("victim-co", tenants.Shared)
	crashAfterMigrate = true
	acc := e.submit("attacker-co", tenants.Shared)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err == nil {
		t.Fatal("want the injected failure after migrate")
	}
	crashAfterMigrate = false

	inst, err := e.catalog.GetInstance(e.ctx, SharedInstanceID(1))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := e.sessions.Admin(e.ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := tenants.NamesFor(e.fleet, "attacker-co")
	victim, _ := tenants.NamesFor(e.fleet, "victim-co")
	secrets := pgx.Identifier{victim.Schema, "secrets"}.Sanitize()
	if _, err := admin.Exec(e.ctx, "CREATE TABLE "+secrets+" AS SELECT 'victim-row'::text AS secret; ALTER TABLE "+secrets+
		" OWNER TO "+pgx.Identifier{victim.Role}.Sanitize()); err != nil {
		t.Fatalf("victim table: %v", err)
	}
	trap := cptest.PlantTenantTrap(t, admin, attacker.Schema, attacker.Role, [2]string{victim.Schema, "secrets"},
		cptest.TrapTable{Name: migrations.VersionTable, Column: "version_id"})

	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err != nil {
		t.Fatalf("onboarding retry: %v", err)
	}
	if got := e.tenantStatus("attacker-co"); got != tenants.TenantActive {
		t.Fatalf("attacker status %s, want active", got)
	}
	trap.AssertGainedNothing(t, admin, true)

	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e.agent.cfg.Now = func() time.Time { return now }
	e.offboardNow("attacker-co", offboard.ActionArchive)
	trap.Schema = ArchivedSchemaName(attacker.Schema, "20261201")
	trap.AssertGainedNothing(t, admin, false)
	var canLogin bool
	if err := admin.QueryRow(e.ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", attacker.Role).Scan(&canLogin); err != nil || canLogin {
		t.Errorf("offboarded tenant role can log in: %v, %v", canLogin, err)
	}
}
