package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SharedLoad is a ready shared instance with what placement weighs: its
// limits and how many tenants (not offboarded) it holds.
type SharedLoad struct {
	ID             string
	Database       string
	MaxTenants     int
	MaxConnections int
	StorageBytes   int64
	Tenants        int
}

// LockSharedLoads returns the ready shared instances with their live
// tenant counts, ordered by id, with the instance rows locked until the
// transaction ends. Call it on a Store in a transaction (Tx).
func (s *Store) LockSharedLoads(ctx context.Context) ([]SharedLoad, error) {
	rows, err := s.db.Query(ctx, `SELECT i.id, i.database_name, i.max_tenants, i.max_connections, i.storage_bytes,
		(SELECT count(*) FROM tenants t WHERE t.instance_id = i.id AND t.status <> 'offboarded')::int
		FROM instances i
		WHERE i.tier = 'shared' AND i.status = 'ready'
		ORDER BY i.id
		FOR UPDATE OF i`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: shared instances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SharedLoad, error) {
		var l SharedLoad
		err := r.Scan(&l.ID, &l.Database, &l.MaxTenants, &l.MaxConnections, &l.StorageBytes, &l.Tenants)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: shared instances: %w", err)
	}
	return out, nil
}

// CreatingShared returns the first (by id) shared instance being created;
// ok is false when there is none.
func (s *Store) CreatingShared(ctx context.Context) (id string, ok bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT id FROM instances WHERE tier = 'shared' AND status = 'creating'
		ORDER BY id LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("controlplane: shared instance being created: %w", err)
	}
	return id, true, nil
}

// CountShared returns how many shared instances have a row, whatever their
// status.
func (s *Store) CountShared(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM instances WHERE tier = 'shared'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("controlplane: count shared instances: %w", err)
	}
	return n, nil
}
