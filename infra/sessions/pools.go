package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// InstanceLookup finds a catalog instance by id, for the endpoint and
// credentials of a tenant's login.
type InstanceLookup func(ctx context.Context, id string) (controlplane.Instance, error)

// TenantPools returns tenants.Pools in which every tenant's work runs on a
// pool of its own whose sessions log in as the tenant's own role (password
// derived from the fleet key, never logged) and are verified to be nothing
// more (tenants.VerifyTenantSession), connecting exactly as Tenant does.
// Work through them is scoped and admitted like application traffic
// (WithTenant, priorities, acquire deadline), but no statement in them,
// nor any function, policy or trigger the tenant planted, can reach another
// tenant or an admin: RESET ROLE leads back to the tenant. This is how the
// fleet's own per-tenant work on the application's path (batch jobs) uses
// tenants.Pools.
//
// cfg is as for tenants.NewPools; its Resolver is required, its
// Credentials and Tier-based sizing are replaced: each tenant's pool has
// DedicatedPoolSize connections. instance resolves the routes' instances.
func (s *Sessions) TenantPools(cfg tenants.PoolsConfig, instance InstanceLookup) (*tenants.Pools, error) {
	if cfg.Resolver == nil || instance == nil {
		return nil, errors.New("sessions: tenant pools need a resolver and an instance lookup")
	}
	logins := &loginConfigs{configs: map[string]*pgxpool.Config{}}
	configure := cfg.ConfigureConn
	afterConnect := cfg.AfterConnect
	cfg.Resolver = ownLoginResolver{cfg.Resolver}
	cfg.Credentials = func(ctx context.Context, r tenants.Route) (string, string, error) {
		inst, err := instance(ctx, r.InstanceID)
		if err != nil {
			return "", "", err
		}
		names, err := tenants.NamesFor(cfg.Fleet, r.TenantID)
		if err != nil {
			return "", "", err
		}
		if names.Role != r.Role {
			return "", "", fmt.Errorf("sessions: route of %s names role %s, not the tenant's own", r.TenantID, r.Role)
		}
		// One verified login now: it enables a login the tenant lacks (as
		// Tenant does) and fails here, with a clear error, when it cannot.
		probe, err := s.Tenant(ctx, inst, names, 1)
		if err != nil {
			return "", "", err
		}
		probe.Close()
		password := Password(s.cfg.Key, names.Role)
		if r.ReplicaID != "" {
			// Read-only work on a replica: the login enabled on the primary
			// above streams to it; connect where the replica listens.
			inst.Host, inst.Port = r.Host, r.Port
		}
		login, err := s.cfg.Connector.LoginConfig(ctx, Endpoint(inst), names.Role, password)
		if err != nil {
			return "", "", fmt.Errorf("sessions: %s: %w", r.TenantID, err)
		}
		logins.put(r.PoolKey(), login)
		return names.Role, password, nil
	}
	cfg.ConfigureConn = func(r tenants.Route, c *pgx.ConnConfig) {
		if login := logins.take(r.PoolKey()); login != nil {
			// Host, port, TLS and fallbacks exactly as the connector logs in.
			*c = *login.ConnConfig.Copy()
		}
		c.RuntimeParams["application_name"] = s.cfg.ApplicationName
		if configure != nil {
			configure(r, c)
		}
	}
	cfg.AfterConnect = func(ctx context.Context, r tenants.Route, conn *pgx.Conn) error {
		if err := tenants.VerifyTenantSession(ctx, conn, r.Role); err != nil {
			return err
		}
		if afterConnect != nil {
			return afterConnect(ctx, r, conn)
		}
		return nil
	}
	return tenants.NewPools(cfg)
}

// ownLoginResolver gives every tenant a pool of its own: routes are
// resolved as usual and marked dedicated, which is what keys a pool per
// tenant in tenants.Pools, and pooled, as the pool logs in as the tenant.
type ownLoginResolver struct{ inner tenants.Resolver }

// Resolve implements tenants.Resolver.
func (o ownLoginResolver) Resolve(ctx context.Context, tenantID string) (tenants.Route, error) {
	r, err := o.inner.Resolve(ctx, tenantID)
	if err != nil {
		return r, err
	}
	// The pool's login is already the tenant's own role (Credentials):
	// a strict route needs nothing more here.
	r.Tier, r.Isolation = tenants.Dedicated, tenants.Pooled
	return r, nil
}

// loginConfigs hands each pool's login configuration from Credentials to
// ConfigurePool, which tenants.Pools calls one after the other.
type loginConfigs struct {
	mu      sync.Mutex
	configs map[string]*pgxpool.Config
}

func (l *loginConfigs) put(key string, c *pgxpool.Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.configs[key] = c
}

func (l *loginConfigs) take(key string) *pgxpool.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.configs[key]
	delete(l.configs, key)
	return c
}
