package provider

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Endpoint names the tenant database of one instance: where it is and
// where its admin credentials live. It carries no password.
type Endpoint struct {
	// InstanceID is tenantfleet's instance id, for errors and caching.
	InstanceID string
	// Host and Port are where the instance listens. The local provider
	// may leave them empty (its admin URL's host and port apply).
	Host string
	Port int
	// Database is the database holding tenant data.
	Database string
	// SecretRef is where the admin password lives (an RDS managed master
	// secret ARN); empty for the local provider.
	SecretRef string
}

// Connector opens sessions to the instances of one provider. Each provider
// has its own: it knows where the admin credentials live and what transport
// security its instances require, so no provider's credentials are ever
// sent to another provider's hosts.
//
// Admin sessions may only read catalogs and statistics views and run admin
// DDL (roles, schemas, grants). Work that touches a tenant's objects
// (migrations, EXPLAIN, batch jobs) runs in sessions from LoginConfig that
// log in as the tenant's own role, so no tenant-defined code ever runs in a
// session that could become an admin.
type Connector interface {
	// Admin returns a pool on ep's database logged in as the instance's
	// admin (the local superuser URL, the RDS master user). The connector
	// owns and caches the pool; callers must not close it.
	Admin(ctx context.Context, ep Endpoint) (*pgxpool.Pool, error)
	// LoginConfig returns a pool configuration for ep's database that logs
	// in as user with password, with the same host, port and transport
	// security as admin sessions. The caller owns the pool it builds.
	LoginConfig(ctx context.Context, ep Endpoint, user, password string) (*pgxpool.Config, error)
	// Forget closes and drops the cached admin pool of ep (after its
	// database was dropped). Unknown endpoints are ignored.
	Forget(ep Endpoint)
	// Close closes every cached pool. It is idempotent.
	Close()
}
