package health

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// gather collects c through a pedantic registry (which checks every metric
// against its description) and returns the families by name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// series maps each metric of family name to its value, keyed by its sorted
// name=value labels joined with ",".
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var key []string
		for _, l := range m.GetLabel() {
			key = append(key, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(key)
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(key, ",")] = v
	}
	return out
}

// The collector serves the latest sweep's figures under the names of
// docs/alerts.md: the instance series with instance_id, no replica series
// without replicas, and per tenant only the top K (here 2) plus "_other",
// the sum of the rest's connections and the maximum of their ages.
func TestCollectorServesLatestHealthWithTenantCap(t *testing.T) {
	e := setup(t, setupOpts{tenants: 4, poolSize: 8, cfg: func(c *Config) { c.TopTenants = 2 },
		pools: func(c *tenants.PoolsConfig) { c.TenantInflightCap = 3 }})
	// Sessions per tenant: 3, 2, 1, 1 (the rest's sum differs from their
	// maximum).
	for _, id := range []string{"tenant-000", "tenant-000", "tenant-000", "tenant-001", "tenant-001", "tenant-002", "tenant-003"} {
		e.holdTx(t, id, "SELECT count(*) FROM items")
	}
	rep := e.sweep(t)
	fams := gather(t, e.agent.Collector())

	inst := "instance_id=" + e.inst.ID
	h := rep.Instance
	want := map[string]float64{
		"tenantfleet_instance_up":                          1,
		"tenantfleet_instance_connections":                 float64(h.ServerConnections),
		"tenantfleet_instance_max_connections":             float64(h.MaxConnections),
		"tenantfleet_instance_capacity_ratio":              h.CapacityRatio,
		"tenantfleet_instance_blocked_sessions":            0,
		"tenantfleet_idle_in_transaction_terminated_total": 0,
	}
	for name, v := range want {
		if got := series(fams, name); len(got) != 1 || got[inst] != v {
			t.Errorf("%s = %v, want {%s: %v}", name, got, inst, v)
		}
	}
	if got := series(fams, "tenantfleet_instance_ping_seconds"); len(got) != 1 || got[inst] <= 0 {
		t.Errorf("ping seconds = %v", got)
	}
	if fams["tenantfleet_idle_in_transaction_terminated_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("terminated total is not a counter")
	}
	if got := series(fams, "tenantfleet_instance_replication_lag_seconds"); len(got) != 0 {
		t.Errorf("replication lag without replicas = %v", got)
	}
	if got := series(fams, "tenantfleet_health_store_up"); got[""] != 1 {
		t.Errorf("store up = %v", got)
	}

	tenant := func(id string) string { return inst + ",tenant=" + id }
	wantConns := map[string]float64{tenant("tenant-000"): 3, tenant("tenant-001"): 2, tenant(OtherTenants): 2}
	if got := series(fams, "tenantfleet_tenant_connections"); !maps.Equal(got, wantConns) {
		t.Errorf("tenant connections = %v, want %v", got, wantConns)
	}

	// Ages: the two oldest tenants by name (ties by id), the rest's maximum
	// as _other.
	ts := slices.Clone(rep.Tenants)
	slices.SortStableFunc(ts, func(a, b controlplane.TenantHealth) int {
		return cmp.Or(cmp.Compare(b.XIDAge, a.XIDAge), cmp.Compare(a.TenantID, b.TenantID))
	})
	wantAges := map[string]float64{tenant(ts[0].TenantID): float64(ts[0].XIDAge), tenant(ts[1].TenantID): float64(ts[1].XIDAge),
		tenant(OtherTenants): float64(max(ts[2].XIDAge, ts[3].XIDAge))}
	if got := series(fams, "tenantfleet_tenant_xid_age"); !maps.Equal(got, wantAges) || ts[0].XIDAge <= 0 {
		t.Errorf("tenant xid age = %v, want %v", got, wantAges)
	}
}

// A control plane that cannot be read serves health_store_up 0 and no
// stale figures.
func TestCollectorStoreDown(t *testing.T) {
	e := setup(t, setupOpts{tenants: 1})
	e.sweep(t)
	closed, err := pgxpool.NewWithConfig(testContext(t), e.cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	cfg := e.agent.cfg
	cfg.Store = controlplane.NewStore(closed)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, a.Collector())
	if len(fams) != 1 || series(fams, "tenantfleet_health_store_up")[""] != 0 {
		t.Fatalf("families with the store down = %v", fams)
	}
}
