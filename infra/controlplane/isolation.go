package controlplane

import (
	"context"
	"fmt"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// SetTenantIsolation sets the tenant's isolation level (tenants.Pooled or
// tenants.Strict) and bumps its route version, which it returns, so every
// Router serves the new level once it hears of the change (publish it
// through a Router afterwards). Setting the level a tenant already has
// bumps nothing and returns the current version. It fails with an error
// matching tenants.ErrInvalidIsolation before any SQL for another level,
// and with tenants.ErrTenantNotFound for a missing tenant.
func (s *Store) SetTenantIsolation(ctx context.Context, id string, level tenants.Isolation) (int64, error) {
	if !level.Valid() {
		return 0, fmt.Errorf("%w %q", tenants.ErrInvalidIsolation, level)
	}
	return s.updateTenant(ctx, id, `WITH changed AS (
		UPDATE tenants SET isolation = $2, route_version = route_version + 1, updated_at = now()
		WHERE id = $1 AND isolation <> $2 RETURNING route_version)
		SELECT route_version FROM changed UNION ALL
		SELECT route_version FROM tenants WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`, id, string(level))
}
