package controlplane

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// TenantIDs returns the ids of the tenants in status, least recently
// updated first: a cheap poll for watchers (the benchmarks) that only need
// ids.
func (s *Store) TenantIDs(ctx context.Context, status tenants.TenantStatus) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM tenants WHERE status = $1 ORDER BY updated_at, id`, string(status))
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s tenants: %w", status, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s tenants: %w", status, err)
	}
	return ids, nil
}

// CountByStatus returns how many tenants are in each status; statuses
// without tenants are absent from the map.
func (s *Store) CountByStatus(ctx context.Context) (map[tenants.TenantStatus]int, error) {
	rows, err := s.db.Query(ctx, `SELECT status, count(*)::int FROM tenants GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: count tenants by status: %w", err)
	}
	defer rows.Close()
	out := map[tenants.TenantStatus]int{}
	for rows.Next() {
		var status tenants.TenantStatus
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("controlplane: count tenants by status: %w", err)
		}
		out[status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controlplane: count tenants by status: %w", err)
	}
	return out, nil
}

// ImportTenants inserts tenants as given, status and placement included,
// in one round trip: for seeding many tenants whose data already exists
// (the benchmarks). Every id, name, tier and status is checked before any
// SQL; a taken id fails the import with an error matching ErrTenantExists.
// Run it in a transaction (Tx) for all or nothing.
func (s *Store) ImportTenants(ctx context.Context, ts []Tenant) error {
	b := &pgx.Batch{}
	for _, t := range ts {
		if err := tenants.ValidateID(t.ID); err != nil {
			return err
		}
		if err := tenants.ValidateName(t.Name); err != nil {
			return fmt.Errorf("controlplane: name of tenant %s: %w", t.ID, err)
		}
		if !t.Tier.Valid() || !t.Status.Valid() {
			return fmt.Errorf("%w: tenant %s needs a tier (shared|dedicated) and a known status", tenants.ErrInvalidValue, t.ID)
		}
		b.Queue(`INSERT INTO tenants (id, name, tier, status, status_reason, instance_id, database_name, schema_name, role_name)
			VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7, $8, $9)`,
			t.ID, t.Name, t.Tier, t.Status, t.StatusReason, t.InstanceID, t.Database, t.Schema, t.Role)
	}
	err := s.db.SendBatch(ctx, b).Close()
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrTenantExists, err)
	}
	if err != nil {
		return fmt.Errorf("controlplane: import %d tenants: %w", len(ts), err)
	}
	return nil
}
