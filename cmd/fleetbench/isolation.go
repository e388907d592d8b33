package main

import (
	"context"
	"fmt"

	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// setIsolation gives the tenants' roles their login (the password derived
// from the env's key, as the provisioner does) when going strict, records
// the level and publishes the new routes.
func (e *env) setIsolation(ctx context.Context, level tenants.Isolation, ids ...string) error {
	for _, id := range ids {
		n, err := tenants.NamesFor(e.fleet, id)
		if err != nil {
			return err
		}
		if level == tenants.Strict {
			if err := e.enableLogin(ctx, n); err != nil {
				return err
			}
		}
		if _, err := e.cat.SetTenantIsolation(ctx, id, level); err != nil {
			return err
		}
		if err := e.router.Publish(ctx, id); err != nil {
			return fmt.Errorf("publish route of %s: %w", id, err)
		}
	}
	return nil
}

// enableLogin lets the tenant's role log in with the password derived from
// the env's key, as the provisioner does.
func (e *env) enableLogin(ctx context.Context, n tenants.Names) error {
	verifier, err := sessions.Verifier(sessions.Password(e.key, n.Role))
	if err != nil {
		return err
	}
	return tenants.EnableLogin(ctx, e.data, n, verifier)
}
