package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Errors of the instances table.
var (
	// ErrInstanceNotFound means no instance has the id.
	ErrInstanceNotFound = errors.New("controlplane: instance not found")
	// ErrInstanceExists means an instance with the id already exists.
	ErrInstanceExists = errors.New("controlplane: instance already exists")
)

// Defaults CreateInstance fills in for a zero field.
const (
	// DefaultPort is the PostgreSQL port of an instance.
	DefaultPort = 5432
	// DefaultMaxTenants is how many tenants a shared instance holds.
	DefaultMaxTenants = 500
	// DefaultMaxConnections is an instance's connection limit.
	DefaultMaxConnections = 100
)

// providerNames are the providers an instance row may name
// (provider.Provider.Name of the local and rds adapters).
var providerNames = []string{"local", "rds"}

// Instance is one row of the instances table (migration 00001): what its
// provider reported (provider.Instance; ReplicaOf is not stored) plus
// what the control plane adds.
type Instance struct {
	provider.Instance
	// Provider names the provider that created it: local or rds.
	Provider string
	// Tier says whether the instance is shared or holds one dedicated
	// tenant.
	Tier tenants.Tier
	// MaxTenants is how many tenants placement puts on it.
	MaxTenants int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const instanceColumns = `id, provider, tier, status, status_reason, host, port, database_name,
	provider_ref, secret_ref, max_tenants, max_connections, storage_bytes, created_at, updated_at`

func scanInstance(row pgx.Row) (Instance, error) {
	var i Instance
	err := row.Scan(&i.ID, &i.Provider, &i.Tier, &i.Status, &i.StatusReason, &i.Host, &i.Port,
		&i.Database, &i.ProviderRef, &i.SecretRef, &i.MaxTenants, &i.MaxConnections,
		&i.StorageBytes, &i.CreatedAt, &i.UpdatedAt)
	return i, err
}

// CreateInstance inserts an instance. ID, Provider and Tier are required;
// Status defaults to creating, Port to DefaultPort, MaxTenants to
// DefaultMaxTenants and MaxConnections to DefaultMaxConnections. It fails
// with ErrInstanceExists when the id is taken, and with an error matching
// tenants.ErrInvalidValue before any SQL for a bad field.
func (s *Store) CreateInstance(ctx context.Context, i Instance) (Instance, error) {
	if i.Status == "" {
		i.Status = provider.StatusCreating
	}
	if i.Port == 0 {
		i.Port = DefaultPort
	}
	if i.MaxTenants == 0 {
		i.MaxTenants = DefaultMaxTenants
	}
	if i.MaxConnections == 0 {
		i.MaxConnections = DefaultMaxConnections
	}
	if i.ID == "" || !slices.Contains(providerNames, i.Provider) || !i.Tier.Valid() || !i.Status.Valid() {
		return Instance{}, fmt.Errorf("%w: instance %q needs an id, a provider (local|rds), a tier and a known status", tenants.ErrInvalidValue, i.ID)
	}
	row := s.db.QueryRow(ctx, `INSERT INTO instances (id, provider, tier, status, status_reason,
		host, port, database_name, provider_ref, secret_ref, max_tenants, max_connections, storage_bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+instanceColumns,
		i.ID, i.Provider, i.Tier, i.Status, i.StatusReason, i.Host, i.Port, i.Database,
		i.ProviderRef, i.SecretRef, i.MaxTenants, i.MaxConnections, i.StorageBytes)
	out, err := scanInstance(row)
	if isUniqueViolation(err) {
		return Instance{}, fmt.Errorf("%w: %s", ErrInstanceExists, i.ID)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("controlplane: create instance %s: %w", i.ID, err)
	}
	return out, nil
}

// GetInstance returns the instance, or ErrInstanceNotFound.
func (s *Store) GetInstance(ctx context.Context, id string) (Instance, error) {
	i, err := scanInstance(s.db.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Instance{}, fmt.Errorf("%w: %s", ErrInstanceNotFound, id)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("controlplane: get instance %s: %w", id, err)
	}
	return i, nil
}

// InstanceFilter narrows ListInstances; zero fields match everything.
type InstanceFilter struct {
	Tier   tenants.Tier
	Status provider.Status
}

// ListInstances returns the instances matching f, ordered by id.
func (s *Store) ListInstances(ctx context.Context, f InstanceFilter) ([]Instance, error) {
	rows, err := s.db.Query(ctx, `SELECT `+instanceColumns+` FROM instances
		WHERE ($1 = '' OR tier = $1) AND ($2 = '' OR status = $2) ORDER BY id`,
		string(f.Tier), string(f.Status))
	if err != nil {
		return nil, fmt.Errorf("controlplane: list instances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) { return scanInstance(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list instances: %w", err)
	}
	return out, nil
}

// SetInstanceStatus sets the instance's status and reason, or fails with
// ErrInstanceNotFound.
func (s *Store) SetInstanceStatus(ctx context.Context, id string, status provider.Status, reason string) error {
	if !status.Valid() {
		return fmt.Errorf("%w: instance status %q", tenants.ErrInvalidValue, status)
	}
	tag, err := s.db.Exec(ctx, `UPDATE instances SET status = $2, status_reason = $3, updated_at = now()
		WHERE id = $1`, id, status, reason)
	if err != nil {
		return fmt.Errorf("controlplane: set instance %s status: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrInstanceNotFound, id)
	}
	return nil
}

// InstanceRequest is the row of an instance the fleet asks its provider
// for: it starts in provider.StatusCreating.
type InstanceRequest struct {
	ID       string
	Provider string
	Tier     tenants.Tier
	// MaxTenants is how many tenants placement puts on it (1 for a
	// dedicated instance).
	MaxTenants int
}

// RequestInstance inserts the row of an instance to create, unless a row
// with its id exists; inserted reports that this call inserted it.
func (s *Store) RequestInstance(ctx context.Context, r InstanceRequest) (inserted bool, err error) {
	if r.ID == "" || !slices.Contains(providerNames, r.Provider) || !r.Tier.Valid() || r.MaxTenants < 1 {
		return false, fmt.Errorf("%w: instance request %q needs an id, a provider (local|rds), a tier and a tenant limit", tenants.ErrInvalidValue, r.ID)
	}
	tag, err := s.db.Exec(ctx, `INSERT INTO instances (id, provider, tier, status, max_tenants)
		VALUES ($1, $2, $3, 'creating', $4) ON CONFLICT (id) DO NOTHING`, r.ID, r.Provider, r.Tier, r.MaxTenants)
	if err != nil {
		return false, fmt.Errorf("controlplane: request instance %s: %w", r.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetInstanceEndpoint records what the provider reported of instance id:
// its endpoint (host, port, database), handles (provider and secret
// references) and limits. Empty or zero fields of got keep the stored
// value.
func (s *Store) SetInstanceEndpoint(ctx context.Context, id string, got provider.Instance) error {
	_, err := s.db.Exec(ctx, `UPDATE instances SET
		host = CASE WHEN $2 <> '' THEN $2 ELSE host END,
		port = CASE WHEN $3::int > 0 THEN $3::int ELSE port END,
		database_name = CASE WHEN $4 <> '' THEN $4 ELSE database_name END,
		provider_ref = CASE WHEN $5 <> '' THEN $5 ELSE provider_ref END,
		secret_ref = CASE WHEN $6 <> '' THEN $6 ELSE secret_ref END,
		max_connections = CASE WHEN $7::int > 0 THEN $7::int ELSE max_connections END,
		storage_bytes = CASE WHEN $8::bigint > 0 THEN $8::bigint ELSE storage_bytes END,
		updated_at = now()
		WHERE id = $1`, id, got.Host, got.Port, got.Database,
		got.ProviderRef, got.SecretRef, got.MaxConnections, got.StorageBytes)
	if err != nil {
		return fmt.Errorf("controlplane: store instance %s endpoint: %w", id, err)
	}
	return nil
}

// InstancePrepared reports whether the instance's tenant database was
// readied for the fleet (MarkInstancePrepared), or ErrInstanceNotFound.
func (s *Store) InstancePrepared(ctx context.Context, id string) (bool, error) {
	var prepared bool
	err := s.db.QueryRow(ctx, `SELECT prepared_at IS NOT NULL FROM instances WHERE id = $1`, id).Scan(&prepared)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("%w: %s", ErrInstanceNotFound, id)
	}
	if err != nil {
		return false, fmt.Errorf("controlplane: read instance %s: %w", id, err)
	}
	return prepared, nil
}

// MarkInstancePrepared records that the instance's tenant database is
// ready for the fleet; the first record's time is kept.
func (s *Store) MarkInstancePrepared(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `UPDATE instances SET prepared_at = now(), updated_at = now()
		WHERE id = $1 AND prepared_at IS NULL`, id); err != nil {
		return fmt.Errorf("controlplane: record instance %s prepared: %w", id, err)
	}
	return nil
}
