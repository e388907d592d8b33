package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Provisioning leases (table provision_leases, migrations 00015 and 00031) give one
// task attempt at a time a tenant. They live in a table of their own so a
// lease can be taken before the tenant row exists. The token is random per
// attempt: a live lease is never taken over, not even by another copy or a
// retry of the same task.

// ClaimLease takes tenantID's lease for ttl under token, unless a lease
// that has not expired holds it (claimed is false). owner is a label for
// operators (the task id).
func (s *Store) ClaimLease(ctx context.Context, tenantID, owner, token string, ttl time.Duration) (claimed bool, err error) {
	var got string
	err = s.db.QueryRow(ctx, `INSERT INTO provision_leases (tenant_id, owner, token, until)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		ON CONFLICT (tenant_id) DO UPDATE SET owner = excluded.owner, token = excluded.token, until = excluded.until
		WHERE provision_leases.until < now()
		RETURNING token`, tenantID, owner, token, ttl.Seconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("controlplane: lease %s: %w", tenantID, err)
	}
	return true, nil
}

// RenewLease extends tenantID's lease held under token by ttl from now;
// held is false when the lease is no longer token's. In a transaction the
// lease row stays locked until it ends, so nobody takes the lease over
// meanwhile: a fence for the transaction's other writes.
func (s *Store) RenewLease(ctx context.Context, tenantID, token string, ttl time.Duration) (held bool, err error) {
	tag, err := s.db.Exec(ctx, `UPDATE provision_leases SET until = now() + make_interval(secs => $3)
		WHERE tenant_id = $1 AND token = $2`, tenantID, token, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("controlplane: renew lease of %s: %w", tenantID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease gives tenantID's lease back if token still holds it.
func (s *Store) ReleaseLease(ctx context.Context, tenantID, token string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM provision_leases WHERE tenant_id = $1 AND token = $2`, tenantID, token); err != nil {
		return fmt.Errorf("controlplane: release lease of %s: %w", tenantID, err)
	}
	return nil
}
