package rds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// ErrConnectorClosed is returned by Admin after Close.
var ErrConnectorClosed = errors.New("rds: connector closed")

// Connector opens sessions to RDS instances: admin pools logged in as the
// instance's master user, whose password it reads from the instance's RDS
// managed secret in Secrets Manager (Endpoint.SecretRef), and tenant login
// configurations. Every session requires TLS and verifies the server's
// certificate and host name (sslmode=verify-full) against
// ConnectorConfig.CABundle. It is safe for concurrent use. Close it when
// done.
//
// Master credentials are cached per secret. When the server rejects them
// (SQLSTATE 28P01 invalid_password or 28000
// invalid_authorization_specification), as it does once RDS has rotated
// the secret, they are marked stale and read again before the next
// connection: Admin retries a new pool's first connection once that way,
// and a later connection of a cached pool that is rejected fails, and the
// one after it uses the re-read secret.
type Connector struct {
	cfg     ConnectorConfig
	roots   *x509.CertPool
	secrets *masterSecrets

	mu      sync.Mutex
	pools   map[string]*adminPool // by instance id
	closed  bool
	opening singleflight.Group
}

var _ provider.Connector = (*Connector)(nil)

// adminPool is a cached admin pool and the endpoint it was opened for.
type adminPool struct {
	pool *pgxpool.Pool
	ep   provider.Endpoint
}

// NewConnector validates cfg, fills its defaults, loads the CA bundle and
// builds the Secrets Manager client: with static credentials when
// cfg.AWS.AccessKeyID is set, else from the default AWS credential chain.
// It makes no API call and opens no connection.
func NewConnector(ctx context.Context, cfg ConnectorConfig) (*Connector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	roots, err := cfg.roots()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	awsCfg, err := awsclient.Load(ctx, cfg.AWS)
	if errors.Is(err, awsclient.ErrNoRegion) {
		return nil, fmt.Errorf("%w: rds connector config: %w", provider.ErrInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("rds: %w", err)
	}
	client := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) { o.BaseEndpoint = cfg.AWS.BaseEndpoint() })
	return &Connector{
		cfg:     cfg,
		roots:   roots,
		secrets: &masterSecrets{client: client, log: cfg.Logger},
		pools:   map[string]*adminPool{},
	}, nil
}

// Admin returns the admin pool of ep, opening it on first use: logged in
// as the master user of ep.SecretRef's secret, over verified TLS. A new
// pool's first connection is made before Admin returns; when the server
// rejects the credentials, the secret is read again and the connection
// retried once. The Connector owns the pool; callers must not close it.
func (c *Connector) Admin(ctx context.Context, ep provider.Endpoint) (*pgxpool.Pool, error) {
	if err := validateEndpoint(ep, true); err != nil {
		return nil, fmt.Errorf("rds: admin: %w", err)
	}
	if p, err := c.cached(ep); p != nil || err != nil {
		return p, err
	}
	v, err, _ := c.opening.Do(endpointKey(ep), func() (any, error) {
		if p, err := c.cached(ep); p != nil || err != nil {
			return p, err
		}
		return c.open(ctx, ep)
	})
	if err != nil {
		return nil, err
	}
	return v.(*pgxpool.Pool), nil
}

// cached returns the pool of ep when one is cached for exactly ep.
func (c *Connector) cached(ep provider.Endpoint) (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrConnectorClosed
	}
	if ap, ok := c.pools[ep.InstanceID]; ok && ap.ep == ep {
		return ap.pool, nil
	}
	return nil, nil
}

// open opens, checks and caches the admin pool of ep. A pool cached for
// the same instance at another endpoint is replaced and closed.
func (c *Connector) open(ctx context.Context, ep provider.Endpoint) (*pgxpool.Pool, error) {
	var pool *pgxpool.Pool
	for attempt := 1; ; attempt++ {
		creds, err := c.secrets.get(ctx, ep.SecretRef)
		if err != nil {
			return nil, fmt.Errorf("rds: admin pool of instance %s: %w", ep.InstanceID, err)
		}
		cfg, err := c.poolConfig(ep, creds.username, "")
		if err != nil {
			return nil, err
		}
		cfg.MaxConns = c.cfg.MaxConns
		cfg.BeforeConnect = c.masterLogin(ep.SecretRef)
		pool, err = pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("rds: admin pool of instance %s: %w", ep.InstanceID, err)
		}
		err = pool.Ping(ctx)
		if err == nil {
			break
		}
		pool.Close()
		if attempt == 1 && isAuthFailure(err) {
			// Rotated, most likely: read the secret again (masterLogin has
			// marked it stale already; marking it twice reads it once).
			c.secrets.invalidate(ep.SecretRef, creds.version)
			continue
		}
		return nil, fmt.Errorf("rds: admin connection to instance %s: %w", ep.InstanceID, err)
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		pool.Close()
		return nil, ErrConnectorClosed
	}
	old := c.pools[ep.InstanceID]
	c.pools[ep.InstanceID] = &adminPool{pool: pool, ep: ep}
	c.mu.Unlock()
	if old != nil {
		old.pool.Close()
	}
	return pool, nil
}

// masterLogin is an admin pool's BeforeConnect: every new connection logs
// in with the secret's current credentials, and a rejection of them marks
// the secret stale.
func (c *Connector) masterLogin(ref string) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		creds, err := c.secrets.get(ctx, ref)
		if err != nil {
			return err
		}
		cc.User, cc.Password = creds.username, creds.password
		next := cc.OnPgError
		cc.OnPgError = func(pc *pgconn.PgConn, pgErr *pgconn.PgError) bool {
			if authFailureCodes[pgErr.Code] {
				c.secrets.invalidate(ref, creds.version)
			}
			if next == nil {
				return !strings.EqualFold(pgErr.Severity, "FATAL")
			}
			return next(pc, pgErr)
		}
		return nil
	}
}

// LoginConfig returns a pool configuration on ep's database that logs in
// as user with password, over the same verified TLS as admin pools. It
// reads no secret. The caller owns the pool it builds.
func (c *Connector) LoginConfig(_ context.Context, ep provider.Endpoint, user, password string) (*pgxpool.Config, error) {
	if err := validateEndpoint(ep, false); err != nil {
		return nil, fmt.Errorf("rds: login config: %w", err)
	}
	if user == "" || password == "" {
		return nil, fmt.Errorf("rds: login config for instance %s: %w: user and password are required", ep.InstanceID, provider.ErrInvalid)
	}
	return c.poolConfig(ep, user, password)
}

// poolConfig builds the configuration of a pool on ep as user: TLS
// required, the server certificate verified against the roots and ep.Host.
// Nothing is taken from PG* environment variables that could weaken that.
func (c *Connector) poolConfig(ep provider.Endpoint, user, password string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig("sslmode=verify-full")
	if err != nil {
		return nil, fmt.Errorf("rds: pool config of instance %s: %w", ep.InstanceID, err)
	}
	cc := cfg.ConnConfig
	cc.Host, cc.Port, cc.Database = ep.Host, uint16(ep.Port), ep.Database
	cc.User, cc.Password = user, password
	cc.TLSConfig = &tls.Config{RootCAs: c.roots, ServerName: ep.Host, MinVersion: tls.VersionTLS12}
	cc.Fallbacks = nil
	cc.ConnectTimeout = c.cfg.ConnectTimeout
	cc.RuntimeParams = map[string]string{"application_name": c.cfg.ApplicationName}
	return cfg, nil
}

// Forget closes and drops the admin pool of ep's instance and the cached
// credentials of its secret. Unknown endpoints are ignored.
func (c *Connector) Forget(ep provider.Endpoint) {
	c.mu.Lock()
	ap := c.pools[ep.InstanceID]
	delete(c.pools, ep.InstanceID)
	c.mu.Unlock()
	if ap != nil {
		ap.pool.Close()
		c.secrets.forget(ap.ep.SecretRef)
	}
	if ep.SecretRef != "" {
		c.secrets.forget(ep.SecretRef)
	}
}

// Close closes every admin pool and drops every cached credential. Admin
// fails with ErrConnectorClosed afterwards. It is idempotent.
func (c *Connector) Close() {
	c.mu.Lock()
	pools := c.pools
	c.pools, c.closed = map[string]*adminPool{}, true
	c.mu.Unlock()
	for _, ap := range pools {
		ap.pool.Close()
		c.secrets.forget(ap.ep.SecretRef)
	}
}

// authFailureCodes are the SQLSTATEs of a rejected login: invalid_password
// and invalid_authorization_specification.
var authFailureCodes = map[string]bool{"28P01": true, "28000": true}

func isAuthFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && authFailureCodes[pgErr.Code]
}

// validateEndpoint checks that ep names a reachable database; admin
// endpoints also need the secret holding the master credentials.
func validateEndpoint(ep provider.Endpoint, admin bool) error {
	var missing []string
	if ep.InstanceID == "" {
		missing = append(missing, "instance id")
	}
	if ep.Host == "" {
		missing = append(missing, "host")
	}
	if ep.Port <= 0 || ep.Port > 65535 {
		missing = append(missing, "port")
	}
	if ep.Database == "" {
		missing = append(missing, "database")
	}
	if admin && ep.SecretRef == "" {
		missing = append(missing, "secret ref")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: endpoint of instance %q has no %s (is the instance still creating?)",
			provider.ErrInvalid, ep.InstanceID, strings.Join(missing, ", "))
	}
	return nil
}

// endpointKey identifies ep for concurrent opens of one pool.
func endpointKey(ep provider.Endpoint) string {
	return strings.Join([]string{ep.InstanceID, ep.Host, strconv.Itoa(ep.Port), ep.Database, ep.SecretRef}, "\x00")
}
