package rds_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdstest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestOnboardingOntoRDS runs the path of an onboarding onto an RDS instance
// with the real SDK on both APIs and TLS required: the rds provider creates
// the instance (rdsfake makes its managed secret in smfake) and polls it to
// ready (rdstest completing the creation as RDS would), the connector reads the master secret and connects over verified
// TLS as the (non-superuser) master user, the isolation DDL readies the
// database and the tenant, and the tenant's objects are then reached only
// through a TLS login of the application role switched to the tenant.
func TestOnboardingOntoRDS(t *testing.T) {
	t.Parallel()
	env := rdstest.Start(t)
	ctx := t.Context()
	const fleet = "tf"
	p, err := rds.New(ctx, env.ProviderConfig())
	if err != nil {
		t.Fatalf("rds.New: %v", err)
	}
	conn := newConnector(t, env.ConnectorConfig())
	// As RDS does after some minutes: the instance is available at the
	// next poll.
	env.CompleteCreations(t)

	created, err := p.Create(ctx, provider.Spec{ID: "shared-001", Tier: tenants.Shared, Fleet: fleet})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.Status != provider.StatusCreating || created.SecretRef == "" {
		t.Fatalf("Create: got %+v, want creating with a managed secret", created)
	}
	if _, err := conn.Admin(ctx, endpointOf(created)); err == nil {
		t.Fatal("Admin of a creating instance (no endpoint yet): got a pool, want an error")
	}
	inst, err := p.Describe(ctx, created.ProviderRef)
	if err != nil || inst.Status != provider.StatusReady {
		t.Fatalf("Describe: got %+v, %v; want ready", inst, err)
	}

	admin, err := conn.Admin(ctx, endpointOf(inst))
	if err != nil {
		t.Fatalf("Admin: %v", err)
	}
	if err := tenants.PrepareDatabase(ctx, admin, fleet, inst.Database); err != nil {
		t.Fatalf("PrepareDatabase as the RDS master user: %v", err)
	}
	names, err := tenants.NamesFor(fleet, "acme-bank")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenants.EnsureTenant(ctx, admin, names); err != nil {
		// RDS's master user is no superuser: on PostgreSQL 15, CREATE SCHEMA
		// … AUTHORIZATION needs membership in the tenant role.
		t.Fatalf("EnsureTenant as the RDS master user: %v (the master must be granted the tenant role first)", err)
	}
	var owner string
	if err := admin.QueryRow(ctx, `SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1`, names.Schema).Scan(&owner); err != nil || owner != names.Role {
		t.Fatalf("tenant schema owner: got %q, %v; want %s", owner, err, names.Role)
	}

	// The application role logs in over the same verified TLS (its
	// password set here; how the fleet stores it is not the connector's
	// business) and reaches the tenant's schema only by switching role.
	const appPassword = "app-password-91c2"
	super := env.Superuser(t, inst.Database)
	if _, err := super.Exec(ctx, "ALTER ROLE "+pgx.Identifier{names.AppRole}.Sanitize()+" PASSWORD '"+appPassword+"'"); err != nil {
		t.Fatal(err)
	}
	cfg, err := conn.LoginConfig(ctx, endpointOf(inst), names.AppRole, appPassword)
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if user, ssl := sessionOf(t, app); user != names.AppRole || !ssl {
		t.Fatalf("application session: got %q ssl %v, want %s over TLS", user, ssl, names.AppRole)
	}
	table := pgx.Identifier{names.Schema, "notes"}.Sanitize()
	if _, err := app.Exec(ctx, "CREATE TABLE "+table+" (id int)"); err == nil {
		t.Error("application role without switching role created a table in the tenant schema")
	}
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true)", names.Role); err != nil {
		t.Fatalf("switch to the tenant role: %v", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatalf("create a table as the tenant: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
