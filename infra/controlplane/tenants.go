package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// ErrTenantExists means a tenant with the id already exists. A missing
// tenant is tenants.ErrTenantNotFound, which the Router answers too, and a
// refused field value (an unknown tier, status or provider, a name with
// hidden characters) tenants.ErrInvalidValue.
var ErrTenantExists = errors.New("controlplane: tenant already exists")

// Tenant is one row of the tenants table (migration 00001).
type Tenant struct {
	ID           string
	Name         string
	Tier         tenants.Tier
	Status       tenants.TenantStatus
	StatusReason string
	// InstanceID is empty until the tenant is placed.
	InstanceID string
	Database   string
	Schema     string
	Role       string
	// Isolation is tenants.Pooled or tenants.Strict (migration 00050);
	// CreateTenant defaults it to Pooled.
	Isolation    tenants.Isolation
	RouteVersion int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Placement is where a tenant's data lives.
type Placement struct {
	InstanceID string
	Database   string
	Schema     string
	Role       string
}

const tenantColumns = `id, name, tier, status, status_reason, coalesce(instance_id, ''),
	database_name, schema_name, role_name, isolation, route_version, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Tier, &t.Status, &t.StatusReason, &t.InstanceID,
		&t.Database, &t.Schema, &t.Role, &t.Isolation, &t.RouteVersion, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// CreateTenant inserts a tenant. ID, Name (tenants.ValidateName: no
// control, bidi or zero-width characters) and Tier are required; Status
// defaults to pending. It fails with ErrTenantExists when the id is taken,
// and with an error matching tenants.ErrInvalidValue (or tenants.ErrInvalidID)
// before any SQL for a bad field.
func (s *Store) CreateTenant(ctx context.Context, t Tenant) (Tenant, error) {
	if err := tenants.ValidateID(t.ID); err != nil {
		return Tenant{}, err
	}
	if t.Status == "" {
		t.Status = tenants.TenantPending
	}
	if t.Isolation == "" {
		t.Isolation = tenants.Pooled
	}
	if !t.Isolation.Valid() {
		return Tenant{}, fmt.Errorf("%w: tenant %s isolation %q", tenants.ErrInvalidIsolation, t.ID, t.Isolation)
	}
	if err := tenants.ValidateName(t.Name); err != nil {
		return Tenant{}, fmt.Errorf("controlplane: name of tenant %s: %w", t.ID, err)
	}
	if !t.Tier.Valid() || !t.Status.Valid() {
		return Tenant{}, fmt.Errorf("%w: tenant %s needs a tier (shared|dedicated) and a known status", tenants.ErrInvalidValue, t.ID)
	}
	row := s.db.QueryRow(ctx, `INSERT INTO tenants (id, name, tier, status, status_reason, isolation)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tenantColumns,
		t.ID, t.Name, t.Tier, t.Status, t.StatusReason, t.Isolation)
	out, err := scanTenant(row)
	if isUniqueViolation(err) {
		return Tenant{}, fmt.Errorf("%w: %s", ErrTenantExists, t.ID)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("controlplane: create tenant %s: %w", t.ID, err)
	}
	return out, nil
}

// GetTenant returns the tenant, or tenants.ErrTenantNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: %s", tenants.ErrTenantNotFound, id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("controlplane: get tenant %s: %w", id, err)
	}
	return t, nil
}

// TenantFilter narrows ListTenants; zero fields match everything.
type TenantFilter struct {
	Status     tenants.TenantStatus
	Tier       tenants.Tier
	InstanceID string
}

// ListTenants returns the tenants matching f, ordered by id.
func (s *Store) ListTenants(ctx context.Context, f TenantFilter) ([]Tenant, error) {
	rows, err := s.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR tier = $2) AND ($3 = '' OR instance_id = $3)
		ORDER BY id`, string(f.Status), string(f.Tier), f.InstanceID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenants: %w", err)
	}
	return out, nil
}

// SetTenantStatus sets the tenant's status and reason and bumps its route
// version (whether a tenant is active is part of its route). It returns the
// new route version. Publish the change through a tenants.Router
// afterwards.
func (s *Store) SetTenantStatus(ctx context.Context, id string, status tenants.TenantStatus, reason string) (int64, error) {
	if !status.Valid() {
		return 0, fmt.Errorf("%w: tenant status %q", tenants.ErrInvalidValue, status)
	}
	return s.changeRoute(ctx, id, `status = $2, status_reason = $3`, ``, status, reason)
}

// SetTenantPlacement records where the tenant's data lives and bumps its
// route version, which it returns. Publish the change through a
// tenants.Router afterwards.
func (s *Store) SetTenantPlacement(ctx context.Context, id string, p Placement) (int64, error) {
	return s.changeRoute(ctx, id, `instance_id = $2, database_name = $3, schema_name = $4, role_name = $5`, ``,
		p.InstanceID, p.Database, p.Schema, p.Role)
}

// PlaceOnOwnInstance places an unplaced dedicated tenant on its own
// instance, whose id is the tenant id, and bumps its route version; a
// tenant already placed, or missing, is left as it is (placed is false).
// The instance row must exist (RequestInstance).
func (s *Store) PlaceOnOwnInstance(ctx context.Context, id string) (placed bool, err error) {
	_, err = s.changeRoute(ctx, id, `instance_id = $1`, `instance_id IS NULL`)
	if errors.Is(err, tenants.ErrTenantNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Reclaim is what a re-onboarding of an offboarded tenant sets.
type Reclaim struct {
	Name string
	Tier tenants.Tier
	// InstanceID and Database place the tenant (a restored archive's
	// instance); an empty InstanceID leaves it unplaced.
	InstanceID string
	Database   string
}

// ReclaimTenant takes an offboarded tenant back for a re-onboarding:
// status provisioning with no reason, r's name, tier and placement, and
// its route version bumped. Run it in the transaction that locked the
// tenant (LockTenant) and saw it offboarded.
func (s *Store) ReclaimTenant(ctx context.Context, id string, r Reclaim) error {
	if err := tenants.ValidateName(r.Name); err != nil {
		return fmt.Errorf("controlplane: name of tenant %s: %w", id, err)
	}
	if !r.Tier.Valid() {
		return fmt.Errorf("%w: tenant %s needs a tier (shared|dedicated)", tenants.ErrInvalidValue, id)
	}
	_, err := s.changeRoute(ctx, id, `status = 'provisioning', status_reason = '', name = $2, tier = $3,
		instance_id = nullif($4, ''), database_name = $5`, ``, r.Name, r.Tier, r.InstanceID, r.Database)
	return err
}

// changeRoute is the one statement that changes what a tenant's route is
// made of: it applies set (assignments whose parameters start at $2; $1
// is the tenant id) to the tenant when cond (if any) holds, bumps its
// route_version and returns the new version, or tenants.ErrTenantNotFound
// when no row matched.
func (s *Store) changeRoute(ctx context.Context, id, set, cond string, args ...any) (int64, error) {
	where := `id = $1`
	if cond != "" {
		where += ` AND ` + cond
	}
	var version int64
	err := s.db.QueryRow(ctx, `UPDATE tenants SET `+set+`, route_version = route_version + 1,
		updated_at = now() WHERE `+where+` RETURNING route_version`, append([]any{id}, args...)...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", tenants.ErrTenantNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: update tenant %s: %w", id, err)
	}
	return version, nil
}

// SetTenantReason sets the tenant's status reason while the tenant is in
// status (otherwise it does nothing): a note that changes no route, so its
// route version stays.
func (s *Store) SetTenantReason(ctx context.Context, id string, status tenants.TenantStatus, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenants SET status_reason = $3, updated_at = now()
		WHERE id = $1 AND status = $2`, id, string(status), reason); err != nil {
		return fmt.Errorf("controlplane: note on tenant %s: %w", id, err)
	}
	return nil
}

// LockTenant returns the tenant with its row locked until the transaction
// ends (SELECT ... FOR UPDATE), or tenants.ErrTenantNotFound. Call it on a
// Store in a transaction (Tx).
func (s *Store) LockTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: %s", tenants.ErrTenantNotFound, id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("controlplane: lock tenant %s: %w", id, err)
	}
	return t, nil
}

// ForgetDeletedInstance unplaces the dedicated tenant id and deletes the
// row of its own instance when that instance is deleted, so a placement
// creates it anew. Run it in the transaction that reclaims the tenant
// (ReclaimTenant bumps the route version).
func (s *Store) ForgetDeletedInstance(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenants SET instance_id = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("controlplane: unplace tenant %s: %w", id, err)
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM instances WHERE id = $1 AND tier = 'dedicated' AND status = 'deleted'`, id); err != nil {
		return fmt.Errorf("controlplane: forget deleted instance of %s: %w", id, err)
	}
	return nil
}

// CountTenants returns how many tenants that are not offboarded are placed
// on each instance; instances without tenants are absent from the map.
func (s *Store) CountTenants(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT instance_id, count(*) FROM tenants
		WHERE instance_id IS NOT NULL AND status <> 'offboarded' GROUP BY instance_id`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: count tenants: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("controlplane: count tenants: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controlplane: count tenants: %w", err)
	}
	return out, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
