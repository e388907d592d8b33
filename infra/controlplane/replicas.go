package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Errors of the replicas table.
var (
	// ErrReplicaNotFound means no replica has the id.
	ErrReplicaNotFound = errors.New("controlplane: replica not found")
	// ErrReplicaExists means a replica with the id already exists.
	ErrReplicaExists = errors.New("controlplane: replica already exists")
)

// ReplicaRoleRead is the only role a replica has: it serves read-only
// work.
const ReplicaRoleRead = "read"

// Replica is one row of the replicas table (migration 00080): a read
// replica, a catalog entry of its instance. It has the instance's
// database and admin credentials (a physical copy); only where it listens
// differs.
type Replica struct {
	// ID is the replica's id, an instance id (provider.ValidateID).
	ID string `json:"id"`
	// InstanceID is the primary it replicates.
	InstanceID string `json:"instance_id"`
	// ProviderRef is the provider's handle (RDS identifier, local standby
	// reference).
	ProviderRef string `json:"provider_ref"`
	// Host and Port are where the replica listens; empty while creating.
	Host string `json:"host"`
	Port int    `json:"port"`
	// Status is the replica's lifecycle state, as its provider reports.
	Status       provider.Status `json:"status"`
	StatusReason string          `json:"status_reason,omitempty"`
	// Role is ReplicaRoleRead.
	Role string `json:"role"`
	// LagSeconds is the last replay lag reading; nil before one was taken
	// or when it could not be read (LagError says why).
	LagSeconds   *float64   `json:"lag_seconds,omitempty"`
	LagCheckedAt *time.Time `json:"lag_checked_at,omitempty"`
	LagError     string     `json:"lag_error,omitempty"`
	// ReadCalls is the tenants' cumulative statement calls on the replica
	// at the last cost analysis, at ReadCallsAt; nil before one.
	ReadCalls   *int64     `json:"read_calls,omitempty"`
	ReadCallsAt *time.Time `json:"read_calls_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// On returns the instance row as seen through the replica: inst with the
// replica's host, port and provider handle, for opening sessions on the
// replica (sessions.Sessions.Admin, provider.Connector). inst must be the
// replica's instance.
func (r Replica) On(inst Instance) Instance {
	inst.Host, inst.Port, inst.ProviderRef = r.Host, r.Port, r.ProviderRef
	return inst
}

const replicaColumns = `id, instance_id, provider_ref, host, port, status, status_reason, role,
	lag_seconds, lag_checked_at, lag_error, read_calls, read_calls_at, created_at, updated_at`

func scanReplica(row pgx.Row) (Replica, error) {
	var r Replica
	err := row.Scan(&r.ID, &r.InstanceID, &r.ProviderRef, &r.Host, &r.Port, &r.Status, &r.StatusReason, &r.Role,
		&r.LagSeconds, &r.LagCheckedAt, &r.LagError, &r.ReadCalls, &r.ReadCallsAt, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// validReplicaID checks a replica id at the edge, with an error matching
// tenants.ErrInvalidValue.
func validReplicaID(id string) error {
	if err := provider.ValidateID(id); err != nil {
		return fmt.Errorf("%w: replica id: %w", tenants.ErrInvalidValue, err)
	}
	return nil
}

// CreateReplica records a replica of an existing instance. ID and
// InstanceID are required and must be valid ids; Status defaults to
// creating and Role to read (the only role). It fails with
// ErrReplicaExists when the id is taken, ErrInstanceNotFound when the
// instance is not in the catalog, and tenants.ErrInvalidValue before any
// SQL for a bad field.
func (s *Store) CreateReplica(ctx context.Context, r Replica) (Replica, error) {
	if r.Status == "" {
		r.Status = provider.StatusCreating
	}
	if r.Role == "" {
		r.Role = ReplicaRoleRead
	}
	if err := validReplicaID(r.ID); err != nil {
		return Replica{}, err
	}
	if err := provider.ValidateID(r.InstanceID); err != nil {
		return Replica{}, fmt.Errorf("%w: replica %s: instance id: %w", tenants.ErrInvalidValue, r.ID, err)
	}
	if r.ID == r.InstanceID || !r.Status.Valid() || r.Role != ReplicaRoleRead || r.Port < 0 || r.Port > 65535 {
		return Replica{}, fmt.Errorf("%w: replica %s needs its own id, a known status, role %q and a valid port",
			tenants.ErrInvalidValue, r.ID, ReplicaRoleRead)
	}
	out, err := scanReplica(s.db.QueryRow(ctx, `INSERT INTO replicas (id, instance_id, provider_ref, host, port,
		status, status_reason, role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+replicaColumns,
		r.ID, r.InstanceID, r.ProviderRef, r.Host, r.Port, r.Status, r.StatusReason, r.Role))
	var pgErr *pgconn.PgError
	switch {
	case isUniqueViolation(err):
		return Replica{}, fmt.Errorf("%w: %s", ErrReplicaExists, r.ID)
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return Replica{}, fmt.Errorf("%w: %s (replica %s)", ErrInstanceNotFound, r.InstanceID, r.ID)
	case err != nil:
		return Replica{}, fmt.Errorf("controlplane: create replica %s: %w", r.ID, err)
	}
	return out, nil
}

// GetReplica returns the replica, or ErrReplicaNotFound.
func (s *Store) GetReplica(ctx context.Context, id string) (Replica, error) {
	if err := validReplicaID(id); err != nil {
		return Replica{}, err
	}
	r, err := scanReplica(s.db.QueryRow(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Replica{}, fmt.Errorf("%w: %s", ErrReplicaNotFound, id)
	}
	if err != nil {
		return Replica{}, fmt.Errorf("controlplane: get replica %s: %w", id, err)
	}
	return r, nil
}

// ListReplicas returns the replicas of instanceID (every instance's when
// it is empty), ordered by instance and id.
func (s *Store) ListReplicas(ctx context.Context, instanceID string) ([]Replica, error) {
	rows, err := s.db.Query(ctx, `SELECT `+replicaColumns+` FROM replicas
		WHERE $1 = '' OR instance_id = $1 ORDER BY instance_id, id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list replicas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replica, error) { return scanReplica(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list replicas: %w", err)
	}
	return out, nil
}

// UpdateReplica records what the provider reported of the replica: its
// status, reason, host and port. It fails with ErrReplicaNotFound.
func (s *Store) UpdateReplica(ctx context.Context, id string, rep provider.Instance) (Replica, error) {
	if err := validReplicaID(id); err != nil {
		return Replica{}, err
	}
	if !rep.Status.Valid() || rep.Port < 0 || rep.Port > 65535 {
		return Replica{}, fmt.Errorf("%w: replica %s: status %q, port %d", tenants.ErrInvalidValue, id, rep.Status, rep.Port)
	}
	r, err := scanReplica(s.db.QueryRow(ctx, `UPDATE replicas SET status = $2, status_reason = $3, host = $4, port = $5,
		provider_ref = coalesce(nullif($6, ''), provider_ref), updated_at = now() WHERE id = $1 RETURNING `+replicaColumns,
		id, rep.Status, rep.StatusReason, rep.Host, rep.Port, rep.ProviderRef))
	if errors.Is(err, pgx.ErrNoRows) {
		return Replica{}, fmt.Errorf("%w: %s", ErrReplicaNotFound, id)
	}
	if err != nil {
		return Replica{}, fmt.Errorf("controlplane: update replica %s: %w", id, err)
	}
	return r, nil
}

// RecordReplicaLag stores a lag reading of the replica taken at at: lag,
// or, when readErr is not empty, that it could not be read (an error
// class, never a connection string). An unknown replica is ignored (a
// sweep racing its removal).
func (s *Store) RecordReplicaLag(ctx context.Context, id string, lag time.Duration, readErr string, at time.Time) error {
	var secs *float64
	if readErr == "" {
		v := lag.Seconds()
		secs = &v
	}
	if _, err := s.db.Exec(ctx, `UPDATE replicas SET lag_seconds = $2, lag_error = $3, lag_checked_at = $4 WHERE id = $1`,
		id, secs, readErr, at); err != nil {
		return fmt.Errorf("controlplane: record replica %s lag: %w", id, err)
	}
	return nil
}

// SaveReplicaReads stores the tenants' cumulative statement calls on the
// replica read at at, for the next cost analysis's window. An unknown
// replica is ignored.
func (s *Store) SaveReplicaReads(ctx context.Context, id string, calls int64, at time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE replicas SET read_calls = $2, read_calls_at = $3 WHERE id = $1`, id, calls, at); err != nil {
		return fmt.Errorf("controlplane: save replica %s reads: %w", id, err)
	}
	return nil
}

// DeleteReplica removes the replica's row (after its provider deleted
// it). It fails with ErrReplicaNotFound.
func (s *Store) DeleteReplica(ctx context.Context, id string) error {
	if err := validReplicaID(id); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("controlplane: delete replica %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrReplicaNotFound, id)
	}
	return nil
}

// ReplicaRoutes returns the ready replicas of instanceID as
// tenants.Pools routes read-only work to them (tenants.ReplicaSource).
func (s *Store) ReplicaRoutes(ctx context.Context, instanceID string) ([]tenants.ReplicaRoute, error) {
	list, err := s.ListReplicas(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	var out []tenants.ReplicaRoute
	for _, r := range list {
		if r.Status == provider.StatusReady && r.Host != "" && r.Port != 0 {
			out = append(out, tenants.ReplicaRoute{ID: r.ID, InstanceID: r.InstanceID, Host: r.Host, Port: r.Port})
		}
	}
	return out, nil
}
