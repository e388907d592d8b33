package controlplane

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what a Store runs its SQL on: the control-plane pool
// (*pgxpool.Pool), or a transaction (pgx.Tx) when the caller composes
// several operations that must commit together.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store owns every table of the control plane: each operation on them is
// one method here, with typed parameters and results, and no other package
// runs SQL against these tables. One file per group of tables
// (tenants.go, instances.go, intake.go, ...). Over a pool it is safe for
// concurrent use.
type Store struct {
	db DB
}

// NewStore returns a Store over the control-plane pool or a transaction
// on it.
func NewStore(db DB) *Store { return &Store{db: db} }

// Tx runs fn with a Store bound to one transaction and commits when fn
// returns nil; any error (or panic) rolls it back. Called on a Store that
// is already in a transaction, it runs fn in a savepoint.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return fn(&Store{db: tx}) })
}
