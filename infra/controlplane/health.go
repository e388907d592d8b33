package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstanceHealth is the latest health sweep of one instance (migration
// 00065, table instance_health).
type InstanceHealth struct {
	// InstanceID is the instance.
	InstanceID string `json:"instance_id"`
	// CheckedAt is when the sweep ran.
	CheckedAt time.Time `json:"checked_at"`
	// Up is whether the ping answered within its deadline.
	Up bool `json:"up"`
	// PingSeconds is the ping's latency.
	PingSeconds float64 `json:"ping_seconds"`
	// Error is why the instance is down (an error class, never a
	// connection string).
	Error string `json:"error,omitempty"`
	// Connections are the sessions on the instance's database;
	// ServerConnections those of the whole server, against
	// MaxConnections.
	Connections       int `json:"connections"`
	ServerConnections int `json:"server_connections"`
	MaxConnections    int `json:"max_connections"`
	// IdleInTransaction, LongRunning and Blocked count sessions idle in a
	// transaction, running a query past the long-query threshold, and
	// waiting on a lock.
	IdleInTransaction int `json:"idle_in_transaction"`
	LongRunning       int `json:"long_running"`
	Blocked           int `json:"blocked"`
	// CapacityRatio is the instance's fill as placement computes it
	// (provider.Capacity.Ratio).
	CapacityRatio float64 `json:"capacity_ratio"`
	// Details hold the rest of the report (blocking chains, replicas,
	// long queries) as the health agent encodes it.
	Details json.RawMessage `json:"details,omitempty"`
	// DrainedTotal counts the sessions the sweeps of this instance ever
	// terminated (health_drains); read only.
	DrainedTotal int64 `json:"drained_total"`
}

// TenantHealth is the latest per-tenant part of its instance's sweep
// (table tenant_health).
type TenantHealth struct {
	// TenantID and InstanceID name the tenant and where it was checked.
	TenantID   string `json:"tenant_id"`
	InstanceID string `json:"instance_id"`
	// CheckedAt is when the sweep ran.
	CheckedAt time.Time `json:"checked_at"`
	// Connections are the sessions attributed to the tenant.
	Connections int `json:"connections"`
	// XIDAge is max(age(relfrozenxid)) over the tenant schema's tables.
	XIDAge int64 `json:"xid_age"`
	// CatalogOK is whether role, schema and grants are as provisioning
	// left them; Problems says what differs.
	CatalogOK bool     `json:"catalog_ok"`
	Problems  []string `json:"problems,omitempty"`
}

// Drain is one session the sweep terminated for idling in a transaction
// (table health_drains).
type Drain struct {
	// ID is assigned on record.
	ID int64 `json:"id"`
	// InstanceID, TenantID (empty when not attributed), PID and UserName
	// identify the session.
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id,omitempty"`
	PID        int    `json:"pid"`
	UserName   string `json:"user_name"`
	// IdleSeconds is how long it sat idle in the transaction,
	// XactSeconds how old the transaction was.
	IdleSeconds float64 `json:"idle_seconds"`
	XactSeconds float64 `json:"xact_seconds"`
	// TerminatedAt is set on record.
	TerminatedAt time.Time `json:"terminated_at"`
}

// RecordInstanceHealth stores h as the latest health of its instance.
func (s *Store) RecordInstanceHealth(ctx context.Context, h InstanceHealth) error {
	details := h.Details
	if len(details) == 0 {
		details = json.RawMessage(`{}`)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO instance_health (instance_id, checked_at, up, ping_seconds, error,
			connections, server_connections, max_connections, idle_in_transaction, long_running, blocked,
			capacity_ratio, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (instance_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, up = EXCLUDED.up,
			ping_seconds = EXCLUDED.ping_seconds, error = EXCLUDED.error, connections = EXCLUDED.connections,
			server_connections = EXCLUDED.server_connections, max_connections = EXCLUDED.max_connections,
			idle_in_transaction = EXCLUDED.idle_in_transaction, long_running = EXCLUDED.long_running,
			blocked = EXCLUDED.blocked, capacity_ratio = EXCLUDED.capacity_ratio, details = EXCLUDED.details`,
		h.InstanceID, h.CheckedAt, h.Up, h.PingSeconds, h.Error, h.Connections, h.ServerConnections,
		h.MaxConnections, h.IdleInTransaction, h.LongRunning, h.Blocked, h.CapacityRatio, details)
	if err != nil {
		return fmt.Errorf("controlplane: record health of %s: %w", h.InstanceID, err)
	}
	return nil
}

// ReplaceTenantHealth stores list as the latest health of the tenants of
// instanceID, in one statement, and forgets the rows of tenants no longer
// on it.
func (s *Store) ReplaceTenantHealth(ctx context.Context, instanceID string, checkedAt time.Time, list []TenantHealth) error {
	ids := make([]string, len(list))
	conns := make([]int32, len(list))
	ages := make([]int64, len(list))
	oks := make([]bool, len(list))
	problems := make([]string, len(list)) // JSON arrays: text[][] cannot be ragged
	for i, t := range list {
		ids[i], conns[i], ages[i], oks[i] = t.TenantID, int32(t.Connections), t.XIDAge, t.CatalogOK //nolint:gosec // bounded by max_connections
		raw, err := json.Marshal(append([]string{}, t.Problems...))
		if err != nil {
			return err
		}
		problems[i] = string(raw)
	}
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM tenant_health WHERE instance_id = $1 AND NOT (tenant_id = ANY($2))`,
			instanceID, ids); err != nil {
			return fmt.Errorf("controlplane: record tenant health of %s: %w", instanceID, err)
		}
		_, err := tx.db.Exec(ctx, `INSERT INTO tenant_health (tenant_id, instance_id, checked_at, connections, xid_age, catalog_ok, problems)
			SELECT u.id, $1, $2, u.conns, u.age, u.ok, ARRAY(SELECT jsonb_array_elements_text(u.problems::jsonb))
			FROM unnest($3::text[], $4::int[], $5::bigint[], $6::boolean[], $7::text[]) AS u(id, conns, age, ok, problems)
			ON CONFLICT (tenant_id) DO UPDATE SET instance_id = EXCLUDED.instance_id, checked_at = EXCLUDED.checked_at,
				connections = EXCLUDED.connections, xid_age = EXCLUDED.xid_age, catalog_ok = EXCLUDED.catalog_ok,
				problems = EXCLUDED.problems`,
			instanceID, checkedAt, ids, conns, ages, oks, problems)
		if err != nil {
			return fmt.Errorf("controlplane: record tenant health of %s: %w", instanceID, err)
		}
		return nil
	})
}

// RecordDrain records a terminated session and returns it with its id and
// time.
func (s *Store) RecordDrain(ctx context.Context, d Drain) (Drain, error) {
	err := s.db.QueryRow(ctx, `INSERT INTO health_drains (instance_id, tenant_id, pid, user_name, idle_seconds, xact_seconds)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, terminated_at`,
		d.InstanceID, d.TenantID, d.PID, d.UserName, d.IdleSeconds, d.XactSeconds).Scan(&d.ID, &d.TerminatedAt)
	if err != nil {
		return Drain{}, fmt.Errorf("controlplane: record drain on %s: %w", d.InstanceID, err)
	}
	return d, nil
}

// ListDrains returns the latest terminated sessions of instanceID (every
// instance when empty), newest first, at most limit (1-1000).
func (s *Store) ListDrains(ctx context.Context, instanceID string, limit int) ([]Drain, error) {
	limit = min(max(limit, 1), 1000)
	rows, err := s.db.Query(ctx, `SELECT id, instance_id, tenant_id, pid, user_name, idle_seconds, xact_seconds, terminated_at
		FROM health_drains WHERE ($1 = '' OR instance_id = $1) ORDER BY terminated_at DESC, id DESC LIMIT $2`, instanceID, limit)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list drains: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Drain, error) {
		var d Drain
		err := r.Scan(&d.ID, &d.InstanceID, &d.TenantID, &d.PID, &d.UserName, &d.IdleSeconds, &d.XactSeconds, &d.TerminatedAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list drains: %w", err)
	}
	return out, nil
}

// ListInstanceHealth returns the latest health of instanceID (every
// instance when empty), by instance id, each with its drain count.
func (s *Store) ListInstanceHealth(ctx context.Context, instanceID string) ([]InstanceHealth, error) {
	rows, err := s.db.Query(ctx, `SELECT h.instance_id, h.checked_at, h.up, h.ping_seconds, h.error, h.connections,
			h.server_connections, h.max_connections, h.idle_in_transaction, h.long_running, h.blocked,
			h.capacity_ratio, h.details,
			(SELECT count(*) FROM health_drains d WHERE d.instance_id = h.instance_id)
		FROM instance_health h WHERE ($1 = '' OR h.instance_id = $1) ORDER BY h.instance_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list instance health: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceHealth, error) {
		var h InstanceHealth
		err := r.Scan(&h.InstanceID, &h.CheckedAt, &h.Up, &h.PingSeconds, &h.Error, &h.Connections,
			&h.ServerConnections, &h.MaxConnections, &h.IdleInTransaction, &h.LongRunning, &h.Blocked,
			&h.CapacityRatio, &h.Details, &h.DrainedTotal)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list instance health: %w", err)
	}
	return out, nil
}

// TenantHealthFilter selects tenant health rows; empty fields match all.
type TenantHealthFilter struct {
	InstanceID string
	TenantID   string
}

// ListTenantHealth returns the latest tenant health rows matching f, by
// instance then tenant.
func (s *Store) ListTenantHealth(ctx context.Context, f TenantHealthFilter) ([]TenantHealth, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, instance_id, checked_at, connections, xid_age, catalog_ok, problems
		FROM tenant_health WHERE ($1 = '' OR instance_id = $1) AND ($2 = '' OR tenant_id = $2)
		ORDER BY instance_id, tenant_id`, f.InstanceID, f.TenantID)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenant health: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantHealth, error) {
		var t TenantHealth
		err := r.Scan(&t.TenantID, &t.InstanceID, &t.CheckedAt, &t.Connections, &t.XIDAge, &t.CatalogOK, &t.Problems)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tenant health: %w", err)
	}
	return out, nil
}
