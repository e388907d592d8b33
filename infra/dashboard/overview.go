package dashboard

import (
	"cmp"
	"errors"
	"net/http"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// InstanceRow is one instance on the overview.
type InstanceRow struct {
	controlplane.Instance
	Tenants int
	// CapacityPct is Tenants against MaxTenants.
	CapacityPct float64
	// Health is the latest sweep; Checked is false before the first.
	Health  controlplane.InstanceHealth
	Checked bool
	// ConnPct is the server's connections against its max_connections.
	ConnPct float64
	// Pool is the instance's shared pool across processes.
	Pool PoolFigures
}

// TierStatus counts the tenants of one tier by status.
type TierStatus struct {
	Tier     string
	ByStatus map[string]int
	Total    int
}

type overviewData struct {
	Instances []InstanceRow
	Tiers     []TierStatus
	Statuses  []string
	Alerts    []alerts.Alert
	Migration *migrate.RunStatus
	// MigrationPct is the finished share of the latest run's tenants.
	MigrationPct float64
	Queues       []QueueDepth
	PoolsRead    bool
}

// allStatuses are the tenant statuses in lifecycle order.
var allStatuses = []tenants.TenantStatus{tenants.TenantPending, tenants.TenantProvisioning, tenants.TenantActive,
	tenants.TenantFailed, tenants.TenantOffboarding, tenants.TenantOffboarded}

func (d *Dashboard) overview(r *http.Request) (string, string, any, error) {
	if len(r.URL.Query()) > 0 {
		return "", "", nil, badParam("the overview takes no query parameters")
	}
	ctx := r.Context()
	var out overviewData
	rows, err := d.instanceRows(r)
	if err != nil {
		return "", "", nil, err
	}
	out.Instances = rows
	_, out.PoolsRead = d.poolTotals(ctx)
	list, err := d.cfg.Store.ListTenants(ctx, controlplane.TenantFilter{})
	if err != nil {
		return "", "", nil, err
	}
	seen := map[tenants.TenantStatus]bool{tenants.TenantActive: true}
	for _, t := range list {
		seen[t.Status] = true
	}
	for _, s := range allStatuses { // the statuses some tenant has, in lifecycle order
		if seen[s] {
			out.Statuses = append(out.Statuses, string(s))
		}
	}
	tiers := map[string]*TierStatus{}
	for _, t := range list {
		ts := tiers[string(t.Tier)]
		if ts == nil {
			ts = &TierStatus{Tier: string(t.Tier), ByStatus: map[string]int{}}
			tiers[string(t.Tier)] = ts
		}
		ts.ByStatus[string(t.Status)]++
		ts.Total++
	}
	for _, ts := range tiers {
		out.Tiers = append(out.Tiers, *ts)
	}
	slices.SortFunc(out.Tiers, func(a, b TierStatus) int { return cmp.Compare(a.Tier, b.Tier) })
	if out.Alerts, err = d.cfg.Alerts.List(ctx, alerts.ListFilter{OpenOnly: true, Limit: 10}); err != nil {
		return "", "", nil, err
	}
	id, err := d.cfg.Migrations.LatestRun(ctx)
	switch {
	case errors.Is(err, controlplane.ErrMigrationRunNotFound):
	case err != nil:
		return "", "", nil, err
	default:
		st, err := d.cfg.Migrations.Status(ctx, id)
		if err != nil {
			return "", "", nil, err
		}
		st.Tenants = nil
		out.Migration = &st
		out.MigrationPct = percent(st.Counts.Succeeded+st.Counts.Failed, st.Counts.Total)
	}
	out.Queues = d.queueDepths()
	return "overview", "Overview", out, nil
}

// instanceRows joins the instances with their tenant counts, latest sweep
// and shared pool.
func (d *Dashboard) instanceRows(r *http.Request) ([]InstanceRow, error) {
	ctx := r.Context()
	insts, err := d.cfg.Store.ListInstances(ctx, controlplane.InstanceFilter{})
	if err != nil {
		return nil, err
	}
	counts, err := d.cfg.Store.CountTenants(ctx)
	if err != nil {
		return nil, err
	}
	health, err := d.cfg.Store.ListInstanceHealth(ctx, "")
	if err != nil {
		return nil, err
	}
	pools, _ := d.poolTotals(ctx)
	byInstance := map[string]controlplane.InstanceHealth{}
	for _, h := range health {
		byInstance[h.InstanceID] = h
	}
	out := make([]InstanceRow, 0, len(insts))
	for _, in := range insts {
		row := InstanceRow{Instance: in, Tenants: counts[in.ID], CapacityPct: percent(counts[in.ID], in.MaxTenants)}
		row.Health, row.Checked = byInstance[in.ID]
		row.ConnPct = percent(row.Health.ServerConnections, row.Health.MaxConnections)
		row.Pool = pools["instance:"+in.ID]
		out = append(out, row)
	}
	return out, nil
}
