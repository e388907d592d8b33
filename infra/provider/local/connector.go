package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// ConnectorConfig configures a Connector.
type ConnectorConfig struct {
	// AdminURL is a superuser URL on the local server (the provider's
	// Config.AdminURL). Its database, and its host and port when an
	// endpoint names them, are replaced by the endpoint's. Its credentials
	// are used for admin pools only, never for tenant logins. Required.
	AdminURL string
	// MaxConns bounds each database's admin pool. Default 4.
	MaxConns int32
	// ApplicationName tags admin sessions in pg_stat_activity. Default
	// "tenantfleet-admin".
	ApplicationName string
}

// Connector is the local provider's provider.Connector: admin sessions use
// the admin URL's credentials, tenant logins the URL's host, port and TLS
// settings with the tenant's own credentials. It keeps one admin pool per
// database. It is safe for concurrent use.
type Connector struct {
	cfg    ConnectorConfig
	mu     sync.Mutex
	pools  map[string]*pgxpool.Pool
	closed bool
}

var _ provider.Connector = (*Connector)(nil)

// NewConnector checks cfg and returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if _, err := pgxpool.ParseConfig(cfg.AdminURL); err != nil {
		// The parse error may quote the URL and its password: not wrapped.
		return nil, errors.New("local connector: admin url is not a valid PostgreSQL connection string")
	}
	cfg.MaxConns = cmp.Or(cfg.MaxConns, 4)
	cfg.ApplicationName = cmp.Or(cfg.ApplicationName, "tenantfleet-admin")
	return &Connector{cfg: cfg, pools: map[string]*pgxpool.Pool{}}, nil
}

// config parses the admin URL pointed at ep.
func (c *Connector) config(ep provider.Endpoint) (*pgxpool.Config, error) {
	if ep.Database == "" {
		return nil, fmt.Errorf("local connector: instance %s has no database yet", ep.InstanceID)
	}
	cfg, err := pgxpool.ParseConfig(c.cfg.AdminURL)
	if err != nil {
		return nil, errors.New("local connector: admin url is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.Database = ep.Database
	if ep.Host != "" {
		cfg.ConnConfig.Host = ep.Host
		cfg.ConnConfig.Fallbacks = nil
	}
	if ep.Port != 0 {
		cfg.ConnConfig.Port = uint16(ep.Port) //nolint:gosec // ports come from the catalog, 1..65535
	}
	return cfg, nil
}

// Admin implements provider.Connector.
func (c *Connector) Admin(ctx context.Context, ep provider.Endpoint) (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("local connector: closed")
	}
	key := c.key(ep)
	if p, ok := c.pools[key]; ok {
		return p, nil
	}
	cfg, err := c.config(ep)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = c.cfg.MaxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = c.cfg.ApplicationName
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("local connector: admin pool on %s: %w", ep.Database, err)
	}
	c.pools[key] = p
	return p, nil
}

// LoginConfig implements provider.Connector.
func (c *Connector) LoginConfig(_ context.Context, ep provider.Endpoint, user, password string) (*pgxpool.Config, error) {
	if user == "" {
		return nil, errors.New("local connector: login user is required")
	}
	cfg, err := c.config(ep)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.User = user
	cfg.ConnConfig.Password = password
	return cfg, nil
}

// Forget implements provider.Connector.
func (c *Connector) Forget(ep provider.Endpoint) {
	c.mu.Lock()
	key := c.key(ep)
	p := c.pools[key]
	delete(c.pools, key)
	c.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// Close implements provider.Connector.
func (c *Connector) Close() {
	c.mu.Lock()
	pools := c.pools
	c.pools, c.closed = map[string]*pgxpool.Pool{}, true
	c.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// key identifies an endpoint's database on its server.
func (c *Connector) key(ep provider.Endpoint) string {
	return fmt.Sprintf("%s:%d/%s", ep.Host, ep.Port, ep.Database)
}
