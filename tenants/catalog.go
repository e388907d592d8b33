package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Catalog errors.
var (
	// ErrTenantNotFound means no tenant has the id.
	ErrTenantNotFound = errors.New("tenants: tenant not found")
	// ErrTenantExists means a tenant with the id already exists.
	ErrTenantExists = errors.New("tenants: tenant already exists")
	// ErrInstanceNotFound means no instance has the id.
	ErrInstanceNotFound = errors.New("tenants: instance not found")
	// ErrInstanceExists means an instance with the id already exists.
	ErrInstanceExists = errors.New("tenants: instance already exists")
	// ErrInvalidValue marks a field value the catalog refuses (an unknown
	// tier or status, an empty name or one with hidden characters).
	ErrInvalidValue = errors.New("tenants: invalid value")
)

// Catalog reads and writes the tenants and instances tables of the control
// plane (migration 00001), the source of truth of every route, and reads
// the route key (migration 00030). Over a pool
// it is safe for concurrent use.
type Catalog struct {
	db CatalogDB
}

// CatalogDB is what a Catalog runs its SQL on: the control-plane pool, or
// a transaction (pgx.Tx) when catalog changes must commit together with
// the caller's own statements.
type CatalogDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// NewCatalog returns a Catalog over the control-plane pool or a
// transaction on it.
func NewCatalog(db CatalogDB) *Catalog { return &Catalog{db: db} }

// Tenant is one row of the tenants table.
type Tenant struct {
	ID           string
	Name         string
	Tier         Tier
	Status       TenantStatus
	StatusReason string
	// InstanceID is empty until the tenant is placed.
	InstanceID   string
	Database     string
	Schema       string
	Role         string
	RouteVersion int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Instance is one row of the instances table.
type Instance struct {
	ID             string
	Provider       string // local or rds
	Tier           Tier
	Status         InstanceStatus
	StatusReason   string
	Host           string
	Port           int
	Database       string
	ProviderRef    string
	SecretRef      string
	MaxTenants     int
	MaxConnections int
	StorageBytes   int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Placement is where a tenant's data lives.
type Placement struct {
	InstanceID string
	Database   string
	Schema     string
	Role       string
}

const tenantColumns = `id, name, tier, status, status_reason, coalesce(instance_id, ''),
	database_name, schema_name, role_name, route_version, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Tier, &t.Status, &t.StatusReason, &t.InstanceID,
		&t.Database, &t.Schema, &t.Role, &t.RouteVersion, &t.CreatedAt, &t.UpdatedAt)
	return t, err
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

// CreateTenant inserts a tenant. ID, Name (ValidateName: no control,
// bidi or zero-width characters) and Tier are required; Status defaults to
// pending. It fails with ErrTenantExists when the id is taken, and with an
// error matching ErrInvalidValue before any SQL for a bad field.
func (c *Catalog) CreateTenant(ctx context.Context, t Tenant) (Tenant, error) {
	if err := ValidateID(t.ID); err != nil {
		return Tenant{}, err
	}
	if t.Status == "" {
		t.Status = TenantPending
	}
	if err := ValidateName(t.Name); err != nil {
		return Tenant{}, fmt.Errorf("tenants: name of tenant %s: %w", t.ID, err)
	}
	if !t.Tier.Valid() || !t.Status.Valid() {
		return Tenant{}, fmt.Errorf("%w: tenant %s needs a tier (shared|dedicated) and a known status", ErrInvalidValue, t.ID)
	}
	row := c.db.QueryRow(ctx, `INSERT INTO tenants (id, name, tier, status, status_reason)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+tenantColumns,
		t.ID, t.Name, t.Tier, t.Status, t.StatusReason)
	out, err := scanTenant(row)
	if isUniqueViolation(err) {
		return Tenant{}, fmt.Errorf("%w: %s", ErrTenantExists, t.ID)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenants: create tenant %s: %w", t.ID, err)
	}
	return out, nil
}

// GetTenant returns the tenant, or ErrTenantNotFound.
func (c *Catalog) GetTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(c.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: %s", ErrTenantNotFound, id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenants: get tenant %s: %w", id, err)
	}
	return t, nil
}

// TenantFilter narrows ListTenants; zero fields match everything.
type TenantFilter struct {
	Status     TenantStatus
	Tier       Tier
	InstanceID string
}

// ListTenants returns the tenants matching f, ordered by id.
func (c *Catalog) ListTenants(ctx context.Context, f TenantFilter) ([]Tenant, error) {
	rows, err := c.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR tier = $2) AND ($3 = '' OR instance_id = $3)
		ORDER BY id`, string(f.Status), string(f.Tier), f.InstanceID)
	if err != nil {
		return nil, fmt.Errorf("tenants: list tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
	if err != nil {
		return nil, fmt.Errorf("tenants: list tenants: %w", err)
	}
	return out, nil
}

// SetTenantStatus sets the tenant's status and reason and bumps its route
// version (whether a tenant is active is part of its route). It returns the
// new route version. Publish the change through a Router afterwards.
func (c *Catalog) SetTenantStatus(ctx context.Context, id string, status TenantStatus, reason string) (int64, error) {
	if !status.Valid() {
		return 0, fmt.Errorf("%w: tenant status %q", ErrInvalidValue, status)
	}
	return c.updateTenant(ctx, id, `UPDATE tenants SET status = $2, status_reason = $3,
		route_version = route_version + 1, updated_at = now() WHERE id = $1 RETURNING route_version`,
		id, status, reason)
}

// SetTenantPlacement records where the tenant's data lives and bumps its
// route version, which it returns. Publish the change through a Router
// afterwards.
func (c *Catalog) SetTenantPlacement(ctx context.Context, id string, p Placement) (int64, error) {
	return c.updateTenant(ctx, id, `UPDATE tenants SET instance_id = $2, database_name = $3,
		schema_name = $4, role_name = $5, route_version = route_version + 1, updated_at = now()
		WHERE id = $1 RETURNING route_version`,
		id, p.InstanceID, p.Database, p.Schema, p.Role)
}

func (c *Catalog) updateTenant(ctx context.Context, id, sql string, args ...any) (int64, error) {
	var version int64
	err := c.db.QueryRow(ctx, sql, args...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrTenantNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("tenants: update tenant %s: %w", id, err)
	}
	return version, nil
}

// CreateInstance inserts an instance. ID, Provider and Tier are required;
// Status defaults to creating, Port to 5432, MaxTenants to 500 and
// MaxConnections to 100. It fails with ErrInstanceExists when the id is
// taken.
func (c *Catalog) CreateInstance(ctx context.Context, i Instance) (Instance, error) {
	if i.Status == "" {
		i.Status = InstanceCreating
	}
	if i.Port == 0 {
		i.Port = 5432
	}
	if i.MaxTenants == 0 {
		i.MaxTenants = 500
	}
	if i.MaxConnections == 0 {
		i.MaxConnections = 100
	}
	if i.ID == "" || (i.Provider != "local" && i.Provider != "rds") || !i.Tier.Valid() || !i.Status.Valid() {
		return Instance{}, fmt.Errorf("%w: instance %q needs an id, a provider (local|rds), a tier and a known status", ErrInvalidValue, i.ID)
	}
	row := c.db.QueryRow(ctx, `INSERT INTO instances (id, provider, tier, status, status_reason,
		host, port, database_name, provider_ref, secret_ref, max_tenants, max_connections, storage_bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+instanceColumns,
		i.ID, i.Provider, i.Tier, i.Status, i.StatusReason, i.Host, i.Port, i.Database,
		i.ProviderRef, i.SecretRef, i.MaxTenants, i.MaxConnections, i.StorageBytes)
	out, err := scanInstance(row)
	if isUniqueViolation(err) {
		return Instance{}, fmt.Errorf("%w: %s", ErrInstanceExists, i.ID)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("tenants: create instance %s: %w", i.ID, err)
	}
	return out, nil
}

// GetInstance returns the instance, or ErrInstanceNotFound.
func (c *Catalog) GetInstance(ctx context.Context, id string) (Instance, error) {
	i, err := scanInstance(c.db.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Instance{}, fmt.Errorf("%w: %s", ErrInstanceNotFound, id)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("tenants: get instance %s: %w", id, err)
	}
	return i, nil
}

// InstanceFilter narrows ListInstances; zero fields match everything.
type InstanceFilter struct {
	Tier   Tier
	Status InstanceStatus
}

// ListInstances returns the instances matching f, ordered by id.
func (c *Catalog) ListInstances(ctx context.Context, f InstanceFilter) ([]Instance, error) {
	rows, err := c.db.Query(ctx, `SELECT `+instanceColumns+` FROM instances
		WHERE ($1 = '' OR tier = $1) AND ($2 = '' OR status = $2) ORDER BY id`,
		string(f.Tier), string(f.Status))
	if err != nil {
		return nil, fmt.Errorf("tenants: list instances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) { return scanInstance(r) })
	if err != nil {
		return nil, fmt.Errorf("tenants: list instances: %w", err)
	}
	return out, nil
}

// SetInstanceStatus sets the instance's status and reason.
func (c *Catalog) SetInstanceStatus(ctx context.Context, id string, status InstanceStatus, reason string) error {
	if !status.Valid() {
		return fmt.Errorf("%w: instance status %q", ErrInvalidValue, status)
	}
	tag, err := c.db.Exec(ctx, `UPDATE instances SET status = $2, status_reason = $3, updated_at = now()
		WHERE id = $1`, id, status, reason)
	if err != nil {
		return fmt.Errorf("tenants: set instance %s status: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrInstanceNotFound, id)
	}
	return nil
}

// CountTenants returns how many tenants that are not offboarded are placed
// on each instance; instances without tenants are absent from the map.
func (c *Catalog) CountTenants(ctx context.Context) (map[string]int, error) {
	rows, err := c.db.Query(ctx, `SELECT instance_id, count(*) FROM tenants
		WHERE instance_id IS NOT NULL AND status <> 'offboarded' GROUP BY instance_id`)
	if err != nil {
		return nil, fmt.Errorf("tenants: count tenants: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("tenants: count tenants: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tenants: count tenants: %w", err)
	}
	return out, nil
}

// routeSQL joins a tenant to its instance: the read-through of Resolve.
const routeSQL = `SELECT t.id, t.tier, t.status, coalesce(t.instance_id, ''), coalesce(i.host, ''),
	coalesce(i.port, 0), t.database_name, t.schema_name, t.role_name, t.route_version
	FROM tenants t LEFT JOIN instances i ON i.id = t.instance_id WHERE t.id = $1`

// Route reads the tenant's route from the catalog, whatever its status, or
// fails with ErrTenantNotFound.
func (c *Catalog) Route(ctx context.Context, id string) (Route, error) {
	var r Route
	err := c.db.QueryRow(ctx, routeSQL, id).Scan(&r.TenantID, &r.Tier, &r.Status, &r.InstanceID,
		&r.Host, &r.Port, &r.Database, &r.Schema, &r.Role, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Route{}, fmt.Errorf("%w: %s", ErrTenantNotFound, id)
	}
	if err != nil {
		return Route{}, fmt.Errorf("tenants: read route of %s: %w", id, err)
	}
	return r, nil
}

// ErrNoRouteKey means the control plane holds no route key (migration
// 00030 has not run).
var ErrNoRouteKey = errors.New("tenants: no route key in the control plane")

// RouteKey returns the fleet's secret key for the MACs of routes cached in
// Redis (table route_key, migration 00030). The error never holds the key.
func (c *Catalog) RouteKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := c.db.QueryRow(ctx, `SELECT key FROM route_key`).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoRouteKey
	}
	if err != nil {
		return nil, fmt.Errorf("tenants: read route key: %w", err)
	}
	return key, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
