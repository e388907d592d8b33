package sessions_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// fixture is one prepared tenant database with one tenant (role and
// schema, no login yet) and the fleet's sessions on it.
type fixture struct {
	ctx      context.Context
	admin    *pgxpool.Pool
	inst     controlplane.Instance
	names    tenants.Names
	key      []byte
	sessions *sessions.Sessions
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	fleet := cptest.UniqueName("s")
	cptest.DropFleetOnCleanup(t, fleet)
	db := cptest.ScratchDatabase(t)
	adminURL := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	conn, err := local.NewConnector(local.ConnectorConfig{AdminURL: adminURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	f := &fixture{ctx: ctx, key: cptest.SecretKey(t), inst: controlplane.Instance{Instance: provider.Instance{ID: "i1", Database: db}}}
	if f.sessions, err = sessions.New(sessions.Config{Connector: conn, Key: f.key}); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = f.sessions.Admin(ctx, f.inst); err != nil {
		t.Fatal(err)
	}
	if f.names, err = tenants.NamesFor(fleet, "acme-bank"); err != nil {
		t.Fatal(err)
	}
	if err := tenants.PrepareDatabase(ctx, f.admin, fleet, db); err != nil {
		t.Fatal(err)
	}
	if err := tenants.EnsureTenant(ctx, f.admin, f.names); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTenantSessionLogsInAsTheTenantAlone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// No login yet (EnsureTenant makes NOLOGIN roles): Tenant enables it.
	pool, err := f.sessions.Tenant(f.ctx, f.inst, f.names, 2)
	if err != nil {
		t.Fatalf("Tenant: %v", err)
	}
	defer pool.Close()
	var user, current, path string
	if err := pool.QueryRow(f.ctx, "SELECT session_user::text, current_user::text, current_setting('search_path')").Scan(&user, &current, &path); err != nil {
		t.Fatal(err)
	}
	if user != f.names.Role || current != f.names.Role || path != f.names.Schema {
		t.Fatalf("session (%s, %s, %s), want (%s, %s, %s)", user, current, path, f.names.Role, f.names.Role, f.names.Schema)
	}
	// RESET ROLE leads nowhere, and the other roles are out of reach.
	if _, err := pool.Exec(f.ctx, "RESET ROLE; SET ROLE "+pgx.Identifier{f.names.AppRole}.Sanitize()); err == nil {
		t.Fatal("the tenant session switched to the application role")
	}
	// The role's password is the derived one, stored as a SCRAM verifier.
	var stored string
	if err := f.admin.QueryRow(f.ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", f.names.Role).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") || strings.Contains(stored, sessions.Password(f.key, f.names.Role)) {
		t.Fatalf("stored password %q is not a SCRAM verifier of the derived password", stored)
	}
}

func TestTenantRefusesARoleThatCanBecomeMore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other := pgx.Identifier{f.names.Fleet + "_other"}.Sanitize()
	if _, err := f.admin.Exec(f.ctx, "CREATE ROLE "+other+" NOLOGIN; GRANT "+other+" TO "+pgx.Identifier{f.names.Role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	pool, err := f.sessions.Tenant(f.ctx, f.inst, f.names, 1)
	if !errors.Is(err, tenants.ErrNotTenantSession) {
		if pool != nil {
			pool.Close()
		}
		t.Fatalf("Tenant for a role that is a member of another: error = %v, want ErrNotTenantSession", err)
	}
	if strings.Contains(err.Error(), sessions.Password(f.key, f.names.Role)) {
		t.Fatal("the error carries the tenant's password")
	}
}

func TestVerifierMatchesPostgres(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// PostgreSQL hashes a plaintext password itself; the verifier we compute
	// for the same password and salt must be what it stored.
	const password = "pencil-and-paper"
	role := pgx.Identifier{f.names.Role}.Sanitize()
	if _, err := f.admin.Exec(f.ctx, "SET password_encryption = 'scram-sha-256'; ALTER ROLE "+role+" PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := f.admin.QueryRow(f.ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", f.names.Role).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	got, err := sessions.VerifierWithSalt(password, stored)
	if err != nil {
		t.Fatal(err)
	}
	if got != stored {
		t.Fatalf("verifier\n got %s\nwant %s", got, stored)
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	t.Parallel()
	if _, err := sessions.New(sessions.Config{Connector: &local.Connector{}, Key: make([]byte, 31)}); !errors.Is(err, sessions.ErrShortKey) {
		t.Fatalf("New with a 31-byte key: %v, want ErrShortKey", err)
	}
}

func TestLoginsDeriveTheTenantPassword(t *testing.T) {
	t.Parallel()
	if _, err := sessions.NewLogins(make([]byte, 31)); !errors.Is(err, sessions.ErrShortKey) {
		t.Fatalf("NewLogins with a 31-byte key: %v, want ErrShortKey", err)
	}
	key := cptest.SecretKey(t)
	l, err := sessions.NewLogins(key)
	if err != nil {
		t.Fatal(err)
	}
	user, password, err := l.Login(context.Background(), tenants.Route{TenantID: "acme-bank", Role: "tf_t_acme_bank"})
	if err != nil || user != "tf_t_acme_bank" || password != sessions.Password(key, "tf_t_acme_bank") {
		t.Fatalf("Login: %q, %v; want the role and its derived password", user, err)
	}
	if _, _, err := l.Login(context.Background(), tenants.Route{TenantID: "acme-bank"}); err == nil {
		t.Fatal("Login of a route without a role succeeded")
	}
}
