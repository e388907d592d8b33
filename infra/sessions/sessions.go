package sessions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// DefaultApplicationName is the application_name of tenant sessions.
const DefaultApplicationName = "tenantfleet"

// Config configures Sessions.
type Config struct {
	// Connector is the provider's connector: admin sessions come from its
	// Admin, tenant sessions get their host, port and transport security
	// from its LoginConfig. Required.
	Connector provider.Connector
	// Key is the fleet's secret key (config FLEET_SECRET_KEY), at least
	// MinKeyLen bytes; passwords derive from it. Required.
	Key []byte
	// ApplicationName tags the sessions in pg_stat_activity. Default
	// DefaultApplicationName.
	ApplicationName string
}

// Sessions opens the fleet's admin and tenant sessions on instances. It is
// safe for concurrent use.
type Sessions struct {
	cfg Config
}

// New returns Sessions for cfg.
func New(cfg Config) (*Sessions, error) {
	if cfg.Connector == nil {
		return nil, errors.New("sessions: Connector is required")
	}
	if len(cfg.Key) < MinKeyLen {
		return nil, ErrShortKey
	}
	cfg.ApplicationName = cmp.Or(cfg.ApplicationName, DefaultApplicationName)
	return &Sessions{cfg: cfg}, nil
}

// Endpoint is the connector endpoint of a catalog instance.
func Endpoint(inst controlplane.Instance) provider.Endpoint {
	return provider.Endpoint{
		InstanceID: inst.ID, Host: inst.Host, Port: inst.Port,
		Database: inst.Database, SecretRef: inst.SecretRef,
	}
}

// Admin returns the connector's admin pool on inst's database. Admin
// sessions may read catalogs and statistics views and run admin DDL; they
// must never run work on a tenant's objects (use Tenant). The connector owns
// the pool.
func (s *Sessions) Admin(ctx context.Context, inst controlplane.Instance) (*pgxpool.Pool, error) {
	return s.cfg.Connector.Admin(ctx, Endpoint(inst))
}

// Forget drops the cached admin pool of inst (after its database is gone).
func (s *Sessions) Forget(inst controlplane.Instance) { s.cfg.Connector.Forget(Endpoint(inst)) }

// EnableLogin gives the tenant's role its login (tenants.EnableLogin with
// the verifier of its derived password). admin is an admin connection to the
// tenant's database. Role and database ACL updates of one server conflict
// when they race ("tuple concurrently updated", as several workers enabling
// tenants of one database at once do): such a conflict is retried.
func (s *Sessions) EnableLogin(ctx context.Context, admin tenants.Execer, n tenants.Names) error {
	verifier, err := Verifier(Password(s.cfg.Key, n.Role))
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := tenants.EnableLogin(ctx, admin, n, verifier)
		if err == nil || !concurrentlyUpdated(err) || attempt == maxEnableAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*10+rand.IntN(40)) * time.Millisecond): //nolint:gosec // jitter, not a secret
		}
	}
}

// maxEnableAttempts bounds EnableLogin's retries of racing catalog updates.
const maxEnableAttempts = 8

// concurrentlyUpdated reports PostgreSQL's "tuple concurrently updated", an
// internal error two sessions updating one catalog row (a role, a database's
// ACL) raise.
func concurrentlyUpdated(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "XX000" && strings.Contains(pgErr.Message, "concurrently updated")
}

// Tenant returns a pool of at most maxConns sessions on inst's database, each
// logged in as the tenant's role and verified to be nothing more
// (tenants.VerifyTenantSession) before first use. It connects once before
// returning: when the server refuses the login because the role cannot log
// in yet (a tenant provisioned before tenant logins existed) or its password
// is stale (a new key), Tenant enables the login through the admin connector
// and tries once more. The caller closes the pool.
func (s *Sessions) Tenant(ctx context.Context, inst controlplane.Instance, n tenants.Names, maxConns int32) (*pgxpool.Pool, error) {
	ep := Endpoint(inst)
	pool, err := s.open(ctx, ep, n, maxConns)
	if err == nil || !loginRefused(err) {
		return pool, err
	}
	admin, aerr := s.cfg.Connector.Admin(ctx, ep)
	if aerr != nil {
		return nil, fmt.Errorf("sessions: %s: enable login: %w", n.TenantID, aerr)
	}
	if err := s.EnableLogin(ctx, admin, n); err != nil {
		return nil, err
	}
	return s.open(ctx, ep, n, maxConns)
}

// open builds the pool and checks out one session.
func (s *Sessions) open(ctx context.Context, ep provider.Endpoint, n tenants.Names, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := s.cfg.Connector.LoginConfig(ctx, ep, n.Role, Password(s.cfg.Key, n.Role))
	if err != nil {
		return nil, fmt.Errorf("sessions: %s: %w", n.TenantID, err)
	}
	cfg.MaxConns = max(maxConns, 1)
	cfg.ConnConfig.RuntimeParams["application_name"] = s.cfg.ApplicationName
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		return tenants.VerifyTenantSession(ctx, conn, n.Role)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sessions: %s: %w", n.TenantID, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sessions: %s: log in as %s: %w", n.TenantID, n.Role, err)
	}
	return pool, nil
}

// loginRefused reports a login the server refused for the role's
// password or LOGIN attribute (28P01 invalid_password, 28000
// invalid_authorization_specification: "role is not permitted to log in",
// or no CONNECT privilege on the database, 42501).
func loginRefused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "28P01", "28000", "42501":
		return true
	}
	return false
}
