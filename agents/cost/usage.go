package cost

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TenantUsage is one tenant's use of its instance over the window, and its
// monthly cost.
type TenantUsage struct {
	TenantID   string  `json:"tenant_id"`
	InstanceID string  `json:"instance_id"`
	Calls      int64   `json:"calls"`
	ExecMS     float64 `json:"exec_ms"`
	PlanMS     float64 `json:"plan_ms"`
	Rows       int64   `json:"rows"`
	BlksHit    int64   `json:"shared_blks_hit"`
	BlksRead   int64   `json:"shared_blks_read"`
	// StorageBytes is the size of the tenant's schema (tables, indexes,
	// TOAST); a dedicated tenant's is its database's.
	StorageBytes int64 `json:"storage_bytes"`
	// HeapBlksRead and HeapBlksHit are pg_statio_user_tables' counters of
	// the schema's tables since the statistics were reset (cumulative, not
	// windowed).
	HeapBlksRead int64 `json:"heap_blks_read"`
	HeapBlksHit  int64 `json:"heap_blks_hit"`
	// Share is the tenant's part of its instance's execution plus planning
	// time in the window, 0 to 1.
	Share float64 `json:"share"`
	// MonthlyUSD is Share of the instance's compute price plus the
	// tenant's storage.
	MonthlyUSD float64 `json:"monthly_usd"`
	// PoolWaits are the tenant's admission waits in the published pool
	// statistics; nil when no process published any for it.
	PoolWaits *PoolWaits `json:"pool_waits,omitempty"`
}

// InstanceUsage is one instance's time, storage and money.
type InstanceUsage struct {
	InstanceID  string    `json:"instance_id"`
	Tier        string    `json:"tier"`
	Class       string    `json:"class"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// ExecPlanMS is all the statement time of the instance database in the
	// window; UnattributedMS the part no tenant ran (the fleet's admin
	// work, other roles).
	ExecPlanMS     float64 `json:"exec_plan_ms"`
	UnattributedMS float64 `json:"unattributed_ms"`
	StorageBytes   int64   `json:"storage_bytes"`
	ComputeUSD     float64 `json:"compute_monthly_usd"`
	StorageUSD     float64 `json:"storage_monthly_usd"`
	MonthlyUSD     float64 `json:"monthly_usd"`
	// Incomplete says why attribution may miss statements; empty when it
	// is complete.
	Incomplete string `json:"incomplete,omitempty"`
}

// Report is one analysis's per-tenant, per-instance and fleet cost.
type Report struct {
	CreatedAt       time.Time       `json:"created_at"`
	Tenants         []TenantUsage   `json:"tenants"`
	Instances       []InstanceUsage `json:"instances"`
	FleetMonthlyUSD float64         `json:"fleet_monthly_usd"`
	// Incomplete is true when some instance's attribution is.
	Incomplete bool `json:"incomplete"`
	// Prices is the price table the money was computed with.
	Prices Prices `json:"prices"`
	// PoolStats says what was read of the published pool statistics.
	PoolStats *PoolStatsRead `json:"pool_stats,omitempty"`
	// IndexVetoes are the create_index candidates not advised for a
	// tenant because of the HOT veto (hotveto.go).
	IndexVetoes []HOTVeto `json:"index_vetoes,omitempty"`
}

// tenantStatement is one statement a tenant ran in the window.
type tenantStatement struct {
	Tenant controlplane.Tenant
	Query  string
	Calls  int64
	ExecMS float64
}

// attribution is one instance's window split among its tenants.
type attribution struct {
	usage      map[string]*TenantUsage
	statements []tenantStatement
	total      float64
	unassigned float64
}

// attribute assigns each statement of the window to a tenant: on a
// dedicated instance every statement of its database is its tenant's; on a
// shared one the statement's userid must be a tenant's role (scoped work
// runs as the tenant role, tenant logins log in as it).
func attribute(inst controlplane.Instance, placed []controlplane.Tenant, roleOIDs map[int64]string, w window) attribution {
	a := attribution{usage: map[string]*TenantUsage{}}
	byID := map[string]controlplane.Tenant{}
	for _, t := range placed {
		byID[t.ID] = t
		a.usage[t.ID] = &TenantUsage{TenantID: t.ID, InstanceID: inst.ID}
	}
	for _, s := range w.Statements {
		a.total += s.ExecMS + s.PlanMS
		if fleetProbe(s.Query) {
			a.unassigned += s.ExecMS + s.PlanMS
			continue
		}
		id, ok := roleOIDs[s.UserID]
		if inst.Tier == tenants.Dedicated && len(placed) == 1 {
			id, ok = placed[0].ID, true
		}
		u := a.usage[id]
		if !ok || u == nil {
			a.unassigned += s.ExecMS + s.PlanMS
			continue
		}
		u.Calls += s.Calls
		u.ExecMS += s.ExecMS
		u.PlanMS += s.PlanMS
		u.Rows += s.Rows
		u.BlksHit += s.SharedBlksHit
		u.BlksRead += s.SharedBlksRead
		a.statements = append(a.statements, tenantStatement{Tenant: byID[id], Query: s.Query, Calls: s.Calls, ExecMS: s.ExecMS})
	}
	return a
}

// probeStatements begin the statements the fleet's own sessions run as
// tenants: the agent's probes (probe.go) and the session check. They count as the fleet's work,
// not the tenant's. (A tenant could begin its own statements so to go
// unbilled; it would also go unadvised.)
var probeStatements = []string{
	probeTag,
	// tenants.VerifyTenantSession, run by every new tenant session.
	"SELECT session_user::text,",
}

func fleetProbe(query string) bool {
	q := strings.TrimSpace(query)
	for _, p := range probeStatements {
		if strings.HasPrefix(q, p) {
			return true
		}
	}
	return false
}

// roleOIDs maps the oids of the placed tenants' roles to tenant ids.
func roleOIDs(ctx context.Context, admin *pgxpool.Pool, placed []controlplane.Tenant) (map[int64]string, error) {
	names := make([]string, 0, len(placed))
	byRole := map[string]string{}
	for _, t := range placed {
		names = append(names, t.Role)
		byRole[t.Role] = t.ID
	}
	rows, err := admin.Query(ctx, `SELECT oid::bigint, rolname FROM pg_catalog.pg_roles WHERE rolname = ANY ($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("cost: read tenant roles: %w", err)
	}
	out := map[int64]string{}
	var oid int64
	var name string
	_, err = pgx.ForEachRow(rows, []any{&oid, &name}, func() error { out[oid] = byRole[name]; return nil })
	if err != nil {
		return nil, fmt.Errorf("cost: read tenant roles: %w", err)
	}
	return out, nil
}

// schemaStorage is a schema's size and cumulative heap I/O.
type schemaStorage struct {
	Bytes              int64
	HeapRead, HeapHits int64
}

// storageSQL sizes every schema given and sums its tables' heap I/O, from
// the catalogs and pg_statio_user_tables (admin session: no tenant code
// runs). The view is read once for all the schemas: a subquery per schema
// rescans it (every table's statistics) per schema, 20 s at 1,000 tenants.
const storageSQL = `
WITH io AS (
  SELECT io.schemaname, sum(coalesce(io.heap_blks_read, 0)) AS heap_read, sum(coalesce(io.heap_blks_hit, 0)) AS heap_hit
  FROM pg_catalog.pg_statio_user_tables io WHERE io.schemaname = ANY ($1) GROUP BY io.schemaname
), size AS (
  SELECT n.nspname,
         coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'm', 'p')), 0) AS bytes
  FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid
  WHERE n.nspname = ANY ($1)
  GROUP BY n.nspname
)
SELECT size.nspname, size.bytes::bigint, coalesce(io.heap_read, 0)::bigint, coalesce(io.heap_hit, 0)::bigint
FROM size LEFT JOIN io ON io.schemaname = size.nspname`

func readStorage(ctx context.Context, admin *pgxpool.Pool, placed []controlplane.Tenant) (map[string]schemaStorage, int64, error) {
	schemas := make([]string, 0, len(placed))
	for _, t := range placed {
		schemas = append(schemas, t.Schema)
	}
	rows, err := admin.Query(ctx, storageSQL, schemas)
	if err != nil {
		return nil, 0, fmt.Errorf("cost: read storage: %w", err)
	}
	out := map[string]schemaStorage{}
	var name string
	var s schemaStorage
	if _, err := pgx.ForEachRow(rows, []any{&name, &s.Bytes, &s.HeapRead, &s.HeapHits}, func() error { out[name] = s; return nil }); err != nil {
		return nil, 0, fmt.Errorf("cost: read storage: %w", err)
	}
	var dbBytes int64
	if err := admin.QueryRow(ctx, `SELECT pg_catalog.pg_database_size(pg_catalog.current_database())`).Scan(&dbBytes); err != nil {
		return nil, 0, fmt.Errorf("cost: read database size: %w", err)
	}
	return out, dbBytes, nil
}

// price fills the money of one instance and its tenants.
func price(p Prices, inst controlplane.Instance, a attribution, w window, storage map[string]schemaStorage, dbBytes int64, placed []controlplane.Tenant) (InstanceUsage, []TenantUsage) {
	className, class := p.classOf(inst.ID)
	iu := InstanceUsage{
		InstanceID: inst.ID, Tier: string(inst.Tier), Class: className, WindowStart: w.Start, WindowEnd: w.End,
		ExecPlanMS: a.total, UnattributedMS: a.unassigned, StorageBytes: dbBytes, Incomplete: w.Incomplete,
		ComputeUSD: class.computeMonthlyUSD(), StorageUSD: p.storageMonthlyUSD(dbBytes),
	}
	iu.MonthlyUSD = iu.ComputeUSD + iu.StorageUSD
	out := make([]TenantUsage, 0, len(placed))
	for _, t := range placed {
		u := *a.usage[t.ID]
		st := storage[t.Schema]
		u.StorageBytes, u.HeapBlksRead, u.HeapBlksHit = st.Bytes, st.HeapRead, st.HeapHits
		if inst.Tier == tenants.Dedicated && len(placed) == 1 {
			u.StorageBytes = dbBytes
		}
		if a.total > 0 {
			u.Share = (u.ExecMS + u.PlanMS) / a.total
		}
		u.MonthlyUSD = u.Share*iu.ComputeUSD + p.storageMonthlyUSD(u.StorageBytes)
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
	return iu, out
}
