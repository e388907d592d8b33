package provision

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdstest"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestOnboardOntoRDSEndToEnd onboards a tenant onto an RDS instance with the
// real SDK on both APIs: the rds provider creates the instance (rdsfake), the
// agent polls it to ready, the rds connector reads its managed master
// secret (smfake) and runs the isolation DDL as the non-superuser master over
// verified TLS, and the tenant is migrated logged in as its own role with
// its derived password, on a server that accepts nothing but TLS with
// scram-sha-256 (so the password is really checked, and the local admin
// URL's credentials could not have worked there).
func TestOnboardOntoRDSEndToEnd(t *testing.T) {
	env := rdstest.Start(t)
	prov, err := rds.New(t.Context(), env.ProviderConfig())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rds.NewConnector(t.Context(), env.ConnectorConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	sess, err := sessions.New(sessions.Config{Connector: conn, Key: cptest.SecretKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	env.CompleteCreations(t)
	e := setup(t, func(c *Config) { c.Provider, c.Sessions = prov, sess })

	acc := e.submit("acme-bank", tenants.Shared)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); !errors.Is(err, ErrWaitingForInstance) {
		t.Fatalf("first attempt: %v, want waiting for the instance RDS creates", err)
	}
	insts, err := e.catalog.ListInstances(e.ctx, controlplane.InstanceFilter{Status: provider.StatusCreating})
	if err != nil || len(insts) != 1 {
		t.Fatalf("creating instances: %v, %v", insts, err)
	}
	for _, typ := range []string{queue.TypeInstanceCreate, queue.TypeInstanceCheck} {
		task, _ := queue.NewTask(typ, queue.InstancePayload{InstanceID: insts[0].ID, Attempt: 1})
		handle := e.agent.HandleInstanceCreate
		if typ == queue.TypeInstanceCheck {
			handle = e.agent.HandleInstanceCheck
		}
		if err := handle(e.ctx, task); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	inst, err := e.catalog.GetInstance(e.ctx, insts[0].ID)
	if err != nil || inst.Status != provider.StatusReady || inst.SecretRef == "" {
		t.Fatalf("instance after check: %+v, %v; want ready with a managed secret", inst, err)
	}
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err != nil {
		t.Fatalf("onboard onto RDS: %v", err)
	}
	if got := e.tenantStatus("acme-bank"); got != tenants.TenantActive {
		t.Fatalf("tenant status %s, want active", got)
	}

	names, _ := tenants.NamesFor(e.fleet, "acme-bank")
	pool, err := sess.Tenant(e.ctx, inst, names, 1)
	if err != nil {
		t.Fatalf("tenant login: %v", err)
	}
	defer pool.Close()
	var user string
	var ssl, accounts bool
	if err := pool.QueryRow(e.ctx, `SELECT session_user::text, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()),
		to_regclass('accounts') IS NOT NULL`).Scan(&user, &ssl, &accounts); err != nil {
		t.Fatal(err)
	}
	if user != names.Role || !ssl || !accounts {
		t.Fatalf("tenant session: user %s ssl %v accounts table %v; want %s over TLS with its schema migrated", user, ssl, accounts, names.Role)
	}
	// A wrong password is refused: the server checks it.
	cfg, err := conn.LoginConfig(e.ctx, sessions.Endpoint(inst), names.Role, "not-the-derived-password")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.ConnectConfig(e.ctx, cfg.ConnConfig); err == nil {
		_ = c.Close(e.ctx)
		t.Fatal("the tenant role logged in with a wrong password")
	}
}
