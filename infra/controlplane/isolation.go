package controlplane

import (
	"context"
	"errors"
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
	version, err := s.changeRoute(ctx, id, `isolation = $2`, `isolation <> $2`, string(level))
	if errors.Is(err, tenants.ErrTenantNotFound) { // missing, or already at level
		t, gerr := s.GetTenant(ctx, id)
		if gerr != nil {
			return 0, gerr
		}
		if t.Isolation == level {
			return t.RouteVersion, nil
		}
	}
	return version, err
}
