package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// AdminPools gives the runner an admin pool on an instance's tenant
// database: its user must be able to SET ROLE to every tenant role there (a
// superuser, the RDS master user, or a member of the tenant roles).
type AdminPools interface {
	// Pool returns the pool of inst. The AdminPools owns it.
	Pool(ctx context.Context, inst tenants.Instance) (*pgxpool.Pool, error)
}

// URLPoolsConfig configures URLPools.
type URLPoolsConfig struct {
	// URL returns the connection URL of an instance's database. Required;
	// LocalAdminURL serves the local provider. The URL may carry a
	// password: it is never logged.
	URL func(inst tenants.Instance) (string, error)
	// MaxConns bounds each instance's pool. A tenant migration holds one
	// connection, so it needs at least the run's concurrency. Default 10.
	MaxConns int32
}

// URLPools opens one pgxpool per instance on first use and keeps it until
// Close. It is safe for concurrent use.
type URLPools struct {
	cfg   URLPoolsConfig
	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

var _ AdminPools = (*URLPools)(nil)

// NewURLPools returns pools built from cfg.
func NewURLPools(cfg URLPoolsConfig) (*URLPools, error) {
	if cfg.URL == nil {
		return nil, errors.New("migrate: url pools: URL is required")
	}
	cfg.MaxConns = cmp.Or(cfg.MaxConns, defaultPoolMaxConns)
	if cfg.MaxConns < 1 {
		return nil, fmt.Errorf("migrate: url pools: max conns %d below 1", cfg.MaxConns)
	}
	return &URLPools{cfg: cfg, pools: map[string]*pgxpool.Pool{}}, nil
}

// Pool implements AdminPools.
func (p *URLPools) Pool(ctx context.Context, inst tenants.Instance) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pool, ok := p.pools[inst.ID]; ok {
		return pool, nil
	}
	raw, err := p.cfg.URL(inst)
	if err != nil {
		return nil, fmt.Errorf("migrate: admin url of instance %s: %w", inst.ID, err)
	}
	pc, err := pgxpool.ParseConfig(raw)
	if err != nil {
		// The parse error may quote the URL and its password: not wrapped.
		return nil, fmt.Errorf("migrate: admin url of instance %s: not a valid connection string", inst.ID)
	}
	pc.MaxConns = p.cfg.MaxConns
	// Tagged so load sources can tell the runner's own sessions from the
	// load it throttles on (pgstat.Config.IgnoreApplications).
	pc.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("migrate: open admin pool of instance %s: %w", inst.ID, err)
	}
	p.pools[inst.ID] = pool
	return pool, nil
}

// ApplicationName is the application_name of the runner's admin sessions.
const ApplicationName = "tenantfleet-migrate"

// Close closes every pool.
func (p *URLPools) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, pool := range p.pools {
		pool.Close()
		delete(p.pools, id)
	}
}

// LocalAdminURL returns a URL function for URLPools that connects with the
// credentials of adminURL (a superuser URL on the instance's server) to the
// instance's database, and to the instance's host and port when it names
// them.
func LocalAdminURL(adminURL string) func(tenants.Instance) (string, error) {
	return func(inst tenants.Instance) (string, error) {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", errors.New("admin url: not a valid URL")
		}
		if inst.Database == "" {
			return "", fmt.Errorf("instance %s has no database", inst.ID)
		}
		u.Path = "/" + inst.Database
		if inst.Host != "" {
			port := u.Port()
			if inst.Port != 0 {
				port = strconv.Itoa(inst.Port)
			}
			if port != "" {
				u.Host = net.JoinHostPort(inst.Host, port)
			} else {
				u.Host = inst.Host
			}
		}
		return u.String(), nil
	}
}
