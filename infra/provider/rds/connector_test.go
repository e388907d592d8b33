package rds_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdstest"
	"github.com/tenantfleet/tenantfleet/infra/testca"
)

// rdsInstance is one RDS instance created through the provider on an
// rdstest stand-in, and a connector for it.
type rdsInstance struct {
	env  *rdstest.Env
	inst provider.Instance
	ep   provider.Endpoint
	conn *rds.Connector
}

// setupInstance creates an instance with the rds provider (real SDK,
// rdsfake), finishes its creation on the private TLS server and builds a
// connector (real SDK, smfake) trusting the server's CA.
func setupInstance(t *testing.T) rdsInstance {
	t.Helper()
	env := rdstest.Start(t)
	ctx := t.Context()
	p, err := rds.New(ctx, env.ProviderConfig())
	if err != nil {
		t.Fatalf("rds.New: %v", err)
	}
	created, err := p.Create(ctx, spec("shared-001"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	env.FinishCreate(t, created.ProviderRef)
	inst, err := p.Describe(ctx, created.ProviderRef)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	return rdsInstance{env: env, inst: inst, ep: endpointOf(inst), conn: newConnector(t, env.ConnectorConfig())}
}

func newConnector(t *testing.T, cfg rds.ConnectorConfig) *rds.Connector {
	t.Helper()
	c, err := rds.NewConnector(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func endpointOf(inst provider.Instance) provider.Endpoint {
	return provider.Endpoint{InstanceID: inst.ID, Host: inst.Host, Port: inst.Port, Database: inst.Database, SecretRef: inst.SecretRef}
}

// secretReads counts the GetSecretValue calls the Secrets Manager fake got.
func (r rdsInstance) secretReads() int { return len(r.env.Secrets.Requests("GetSecretValue")) }

// noSecretIn fails the test when err's text holds any of secrets.
func noSecretIn(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text holds a secret: %q", err)
		}
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// sessionOf reports who a pool's session is logged in as and whether it
// runs over TLS, as the server sees it.
func sessionOf(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (user string, ssl bool) {
	t.Helper()
	err := db.QueryRow(t.Context(), `SELECT current_user::text, s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`).Scan(&user, &ssl)
	if err != nil {
		t.Fatalf("read session: %v", err)
	}
	return user, ssl
}

func TestConnectorAdminOverVerifiedTLS(t *testing.T) {
	t.Parallel()
	r := setupInstance(t)
	ctx := t.Context()
	if r.ep.Host != rdstest.Host || r.ep.Port != r.env.Server.Port || r.ep.Database != "tenants" || !strings.HasPrefix(r.ep.SecretRef, "arn:aws:secretsmanager:") {
		t.Fatalf("endpoint from Describe: got %+v, want the private server's and the managed secret's ARN", r.ep)
	}
	user, password := r.env.MasterCredentials(t, r.inst.ProviderRef)

	// Concurrent first calls share one pool and one secret read.
	pools := make([]*pgxpool.Pool, 8)
	var wg sync.WaitGroup
	for i := range pools {
		wg.Go(func() {
			p, err := r.conn.Admin(ctx, r.ep)
			if err != nil {
				t.Errorf("Admin: %v", err)
			}
			pools[i] = p
		})
	}
	wg.Wait()
	for _, p := range pools {
		if p != pools[0] || p == nil {
			t.Fatalf("Admin: got different pools for one instance")
		}
	}
	if got := r.secretReads(); got != 1 {
		t.Errorf("GetSecretValue calls: got %d, want 1", got)
	}
	gotUser, ssl := sessionOf(t, pools[0])
	if gotUser != user || !ssl {
		t.Errorf("admin session: got user %q ssl %v, want %q over TLS", gotUser, ssl, user)
	}
	var super bool
	if err := pools[0].QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Errorf("master user: rolsuper %v (%v), want an RDS-like non-superuser", super, err)
	}

	t.Run("server refuses a connection without TLS", func(t *testing.T) {
		dsn := fmt.Sprintf("host=%s port=%d dbname=tenants user=%s password=%s", rdstest.Host, r.ep.Port, user, password)
		conn, err := pgx.Connect(ctx, dsn+" sslmode=disable")
		if err == nil {
			_ = conn.Close(ctx)
			t.Fatal("plaintext connection with the right password: accepted, want refused")
		}
		if sqlState(err) != "28000" || !strings.Contains(err.Error(), "no encryption") {
			t.Errorf("plaintext connection: got %v, want 28000 rejecting no encryption", err)
		}
		noSecretIn(t, err, password)
		// The same credentials over TLS are accepted: the refusal was the
		// missing TLS, not the password.
		conn, err = pgx.Connect(ctx, dsn+" sslmode=require")
		if err != nil {
			t.Fatalf("same credentials over TLS: %v", err)
		}
		_ = conn.Close(ctx)
	})

	t.Run("a CA that did not sign the server fails verification", func(t *testing.T) {
		other := newConnector(t, rds.ConnectorConfig{AWS: r.env.AWS(r.env.Secrets.URL()),
			CABundle: testca.New(t, "some other CA").WriteBundle(t)})
		_, err := other.Admin(ctx, r.ep)
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) || !strings.Contains(err.Error(), "unknown authority") {
			t.Errorf("Admin with another CA: got %v, want a certificate verification error (unknown authority)", err)
		}
		noSecretIn(t, err, password)

		system := newConnector(t, rds.ConnectorConfig{AWS: r.env.AWS(r.env.Secrets.URL())})
		if _, err := system.Admin(ctx, r.ep); !errors.As(err, &verr) {
			t.Errorf("Admin with the system roots: got %v, want a certificate verification error", err)
		}
	})

	t.Run("a host the certificate does not name fails verification", func(t *testing.T) {
		ep := r.ep
		ep.InstanceID, ep.Host = "shared-001-other-host", rdstest.OtherHost
		_, err := r.conn.Admin(ctx, ep)
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) || !strings.Contains(err.Error(), rdstest.OtherHost) {
			t.Errorf("Admin on %s: got %v, want a host name verification error", rdstest.OtherHost, err)
		}
	})

	t.Run("Forget closes the pool and drops the secret", func(t *testing.T) {
		reads := r.secretReads()
		r.conn.Forget(r.ep)
		if err := pools[0].Ping(ctx); err == nil {
			t.Error("forgotten pool still answers, want it closed")
		}
		p, err := r.conn.Admin(ctx, r.ep)
		if err != nil {
			t.Fatalf("Admin after Forget: %v", err)
		}
		if p == pools[0] {
			t.Error("Admin after Forget: got the closed pool again")
		}
		if got := r.secretReads(); got != reads+1 {
			t.Errorf("GetSecretValue calls after Forget: got %d, want %d", got, reads+1)
		}
		r.conn.Forget(provider.Endpoint{InstanceID: "never-seen"})
	})

	t.Run("Close closes every pool and refuses new ones", func(t *testing.T) {
		p, _ := r.conn.Admin(ctx, r.ep)
		r.conn.Close()
		r.conn.Close()
		if err := p.Ping(ctx); err == nil {
			t.Error("pool still answers after Close")
		}
		if _, err := r.conn.Admin(ctx, r.ep); !errors.Is(err, rds.ErrConnectorClosed) {
			t.Errorf("Admin after Close: got %v, want ErrConnectorClosed", err)
		}
	})
}

func TestConnectorPicksUpRotatedSecret(t *testing.T) {
	t.Parallel()
	r := setupInstance(t)
	ctx := t.Context()
	ident := r.inst.ProviderRef
	_, first := r.env.MasterCredentials(t, ident)
	pool, err := r.conn.Admin(ctx, r.ep)
	if err != nil {
		t.Fatalf("Admin: %v", err)
	}

	// A new pool after a rotation: its first connection is rejected, the
	// secret re-read once, and Admin succeeds.
	r.env.RotateMasterPassword(t, ident)
	_, second := r.env.MasterCredentials(t, ident)
	ep2 := r.ep
	ep2.InstanceID = "shared-001-second-pool"
	if _, err := r.conn.Admin(ctx, ep2); err != nil {
		t.Fatalf("Admin of a new pool after rotation: %v", err)
	}
	if got := r.secretReads(); got != 2 {
		t.Errorf("GetSecretValue calls: got %d, want 2 (one re-read after the rejection)", got)
	}

	// A cached pool after a rotation: connections already open keep
	// working; the first new one is rejected and the next uses the
	// re-read secret.
	r.env.RotateMasterPassword(t, ident)
	_, third := r.env.MasterCredentials(t, ident)
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("open connection after rotation: %v", err)
	}
	pool.Reset()
	_, err = pool.Exec(ctx, "SELECT 1")
	if sqlState(err) != "28P01" {
		t.Fatalf("first new connection after rotation: got %v, want 28P01", err)
	}
	noSecretIn(t, err, first, second, third)
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("next new connection: %v, want it logged in with the re-read secret", err)
	}
	if got := r.secretReads(); got != 3 {
		t.Errorf("GetSecretValue calls: got %d, want 3", got)
	}

	// The server's password changes and the secret does not: the secret is
	// re-read once, then Admin fails.
	super := r.env.Superuser(t, "postgres")
	if _, err := super.Exec(ctx, "ALTER ROLE tenantfleet PASSWORD 'not-what-the-secret-says'"); err != nil {
		t.Fatal(err)
	}
	ep3 := r.ep
	ep3.InstanceID = "shared-001-third-pool"
	_, err = r.conn.Admin(ctx, ep3)
	if sqlState(err) != "28P01" {
		t.Fatalf("Admin with a secret the server rejects: got %v, want 28P01", err)
	}
	noSecretIn(t, err, first, second, third, "not-what-the-secret-says")
	if got := r.secretReads(); got != 4 {
		t.Errorf("GetSecretValue calls: got %d, want 4 (exactly one re-read before failing)", got)
	}
}

func TestConnectorLoginConfig(t *testing.T) {
	t.Parallel()
	r := setupInstance(t)
	ctx := t.Context()
	const role, password = "tf_login_probe", "probe-password-4d1b"
	super := r.env.Superuser(t, "tenants")
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'",
		"GRANT CONNECT ON DATABASE tenants TO " + role,
	} {
		if _, err := super.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	cfg, err := r.conn.LoginConfig(ctx, r.ep, role, password)
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pool from LoginConfig: %v", err)
	}
	defer pool.Close()
	if user, ssl := sessionOf(t, pool); user != role || !ssl {
		t.Errorf("login session: got user %q ssl %v, want %q over TLS", user, ssl, role)
	}
	if got := r.secretReads(); got != 0 {
		t.Errorf("LoginConfig read the master secret %d times, want 0", got)
	}

	cfg, err = r.conn.LoginConfig(ctx, r.ep, role, "wrong-password-77aa")
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	wrong, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	err = wrong.Ping(ctx)
	if sqlState(err) != "28P01" {
		t.Errorf("wrong password: got %v, want 28P01", err)
	}
	noSecretIn(t, err, password, "wrong-password-77aa")

	cfg, _ = r.conn.LoginConfig(ctx, r.ep, role, password)
	if tc := cfg.ConnConfig.TLSConfig; tc == nil || tc.InsecureSkipVerify || tc.ServerName != r.ep.Host || len(cfg.ConnConfig.Fallbacks) != 0 {
		t.Errorf("login config: got TLS %v (skip verify %v, server name %q) with %d fallbacks, want verified TLS to %s only",
			tc != nil, tc != nil && tc.InsecureSkipVerify, r.ep.Host, len(cfg.ConnConfig.Fallbacks), r.ep.Host)
	}

	for name, tc := range map[string]struct {
		ep             provider.Endpoint
		user, password string
	}{
		"no host":     {provider.Endpoint{InstanceID: "x", Port: 5432, Database: "tenants"}, role, password},
		"no database": {provider.Endpoint{InstanceID: "x", Host: "h", Port: 5432}, role, password},
		"no password": {r.ep, role, ""},
		"no user":     {r.ep, "", password},
	} {
		_, err := r.conn.LoginConfig(ctx, tc.ep, tc.user, tc.password)
		if !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("LoginConfig %s: got %v, want ErrInvalid", name, err)
		}
		noSecretIn(t, err, password)
	}
}

func TestNewConnectorRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-bundle.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	region := awsclient.Settings{Region: "us-east-1"}
	for name, cfg := range map[string]rds.ConnectorConfig{
		"missing CA bundle":  {AWS: region, CABundle: filepath.Join(dir, "missing.pem")},
		"CA bundle, no PEM":  {AWS: region, CABundle: notPEM},
		"endpoint not a URL": {AWS: awsclient.Settings{Region: "us-east-1", Endpoint: "localhost:4566"}},
		"half a credential":  {AWS: awsclient.Settings{Region: "us-east-1", AccessKeyID: "AKID"}},
		"negative max conns": {AWS: region, MaxConns: -1},
		"negative timeout":   {AWS: region, ConnectTimeout: -time.Second},
	} {
		if _, err := rds.NewConnector(ctx, cfg); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}
