package controlplane

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SecretKey returns the fleet's secret key kept in the control plane,
// generating it on first use (every process of the fleet, racing or not,
// gets the same key); created reports that this call generated it. It
// stands in for FLEET_SECRET_KEY on a laptop: a key stored beside the data
// it protects is only as safe as the database.
func (s *Store) SecretKey(ctx context.Context) (key []byte, created bool, err error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, false, fmt.Errorf("controlplane: generate secret key: %w", err)
	}
	// A racing process's insert commits after this statement's snapshot:
	// then the statement sees no row, and the second try reads it.
	for range 2 {
		err := s.db.QueryRow(ctx, `WITH ins AS (
			INSERT INTO fleet_keys (name, key) VALUES ('secret', $1) ON CONFLICT (name) DO NOTHING RETURNING key, true)
			SELECT * FROM ins UNION ALL SELECT key, false FROM fleet_keys WHERE name = 'secret' LIMIT 1`, fresh).Scan(&key, &created)
		if err == nil {
			return key, created, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("controlplane: secret key: %w", err)
		}
	}
	return nil, false, errors.New("controlplane: secret key: not found after insert")
}
