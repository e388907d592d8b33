package controlplane

import (
	"context"
	"fmt"
)

// Lock takes the transaction-level advisory lock named key in the control
// plane, waiting for it; it is released when the transaction ends. Call it
// on a Store in a transaction (Tx): outside one the lock would be
// released at once.
func (s *Store) Lock(ctx context.Context, key string) error {
	if _, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key); err != nil {
		return fmt.Errorf("controlplane: lock %s: %w", key, err)
	}
	return nil
}
