package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// The Store is the source of truth a tenants.Router reads through.
var _ tenants.RouteSource = (*Store)(nil)

// ErrNoRouteKey means the control plane holds no route key (migration
// 00030 has not run).
var ErrNoRouteKey = errors.New("controlplane: no route key in the control plane")

// routeSQL joins a tenant to its instance: the read-through of
// tenants.Router.Resolve.
const routeSQL = `SELECT t.id, t.tier, t.status, coalesce(t.instance_id, ''), coalesce(i.host, ''),
	coalesce(i.port, 0), t.database_name, t.schema_name, t.role_name, t.isolation, t.route_version
	FROM tenants t LEFT JOIN instances i ON i.id = t.instance_id WHERE t.id = $1`

// Route reads the tenant's route, whatever its status, or fails with
// tenants.ErrTenantNotFound.
func (s *Store) Route(ctx context.Context, id string) (tenants.Route, error) {
	var r tenants.Route
	err := s.db.QueryRow(ctx, routeSQL, id).Scan(&r.TenantID, &r.Tier, &r.Status, &r.InstanceID,
		&r.Host, &r.Port, &r.Database, &r.Schema, &r.Role, &r.Isolation, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenants.Route{}, fmt.Errorf("%w: %s", tenants.ErrTenantNotFound, id)
	}
	if err != nil {
		return tenants.Route{}, fmt.Errorf("controlplane: read route of %s: %w", id, err)
	}
	return r, nil
}

// RouteKey returns the fleet's secret key for the MACs of routes cached in
// Redis (table route_key, migration 00030), or ErrNoRouteKey. The error
// never holds the key.
func (s *Store) RouteKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := s.db.QueryRow(ctx, `SELECT key FROM route_key`).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoRouteKey
	}
	if err != nil {
		return nil, fmt.Errorf("controlplane: read route key: %w", err)
	}
	return key, nil
}
