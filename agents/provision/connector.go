package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// AdminConnector opens admin connections to the tenant database of an
// instance: the provisioning agent runs isolation DDL and tenant migrations
// through them. The pool's user must be a superuser (or, on RDS, the master
// user) able to create roles and SET ROLE to tenant roles.
type AdminConnector interface {
	// Admin returns a pool on inst's tenant database (inst.Database). The
	// connector owns the pool; callers must not close it.
	Admin(ctx context.Context, inst tenants.Instance) (*pgxpool.Pool, error)
}

// LocalConnector connects to instances of the local provider: databases on
// the server of AdminURL, reached with AdminURL's credentials. It keeps one
// small pool per database. Close it when done.
//
// There is no RDS connector yet: an RDS instance's master password lives in
// Secrets Manager (tenants.Instance.SecretRef); an RDS connector must fetch
// it there (and cache it, rotating on auth failure).
type LocalConnector struct {
	// AdminURL is a superuser URL on the local server; its database is
	// replaced by the instance's. Required.
	AdminURL string
	// MaxConns bounds each database's pool. Default 8.
	MaxConns int32

	mu     sync.Mutex
	pools  map[string]*pgxpool.Pool
	closed bool
}

var _ AdminConnector = (*LocalConnector)(nil)

// Admin implements AdminConnector.
func (c *LocalConnector) Admin(ctx context.Context, inst tenants.Instance) (*pgxpool.Pool, error) {
	if inst.Database == "" {
		return nil, fmt.Errorf("provision: instance %s has no database yet", inst.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("provision: connector closed")
	}
	if p, ok := c.pools[inst.Database]; ok {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(c.AdminURL)
	if err != nil {
		// The parse error may quote the URL and its password: not wrapped.
		return nil, errors.New("provision: local admin url is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.Database = inst.Database
	cfg.MaxConns = cmp.Or(c.MaxConns, 8)
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("provision: admin pool on %s: %w", inst.Database, err)
	}
	if c.pools == nil {
		c.pools = map[string]*pgxpool.Pool{}
	}
	c.pools[inst.Database] = p
	return p, nil
}

// Forget closes and drops the pool of database, if any (after the database
// was dropped).
func (c *LocalConnector) Forget(database string) {
	c.mu.Lock()
	p := c.pools[database]
	delete(c.pools, database)
	c.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// Close closes every pool. It is idempotent.
func (c *LocalConnector) Close() {
	c.mu.Lock()
	pools := c.pools
	c.pools, c.closed = nil, true
	c.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}
