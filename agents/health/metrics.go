package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// OtherTenants (never a tenant id) is the tenant label of the sum (or, for ages, the maximum)
// over the tenants past the top K of an instance.
const OtherTenants = "_other"

var (
	instLabels   = []string{"instance_id"}
	tenantLabels = []string{"instance_id", "tenant"}

	descUp          = prometheus.NewDesc("tenantfleet_instance_up", "1 when the last health ping answered.", instLabels, nil)
	descPing        = prometheus.NewDesc("tenantfleet_instance_ping_seconds", "Latency of the last health ping.", instLabels, nil)
	descConns       = prometheus.NewDesc("tenantfleet_instance_connections", "Sessions on the server of the instance (pg_stat_activity).", instLabels, nil)
	descMaxConns    = prometheus.NewDesc("tenantfleet_instance_max_connections", "max_connections of the instance's server.", instLabels, nil)
	descLag         = prometheus.NewDesc("tenantfleet_instance_replication_lag_seconds", "Replay lag of a replica.", []string{"instance_id", "replica"}, nil)
	descCapacity    = prometheus.NewDesc("tenantfleet_instance_capacity_ratio", "Fill of the instance as placement computes it (0-1).", instLabels, nil)
	descBlocked     = prometheus.NewDesc("tenantfleet_instance_blocked_sessions", "Sessions waiting on a lock.", instLabels, nil)
	descDrained     = prometheus.NewDesc("tenantfleet_idle_in_transaction_terminated_total", "Sessions the health sweep terminated for idling in a transaction.", instLabels, nil)
	descTenantConns = prometheus.NewDesc("tenantfleet_tenant_connections", "Sessions attributed to a tenant: top K per instance plus other.", tenantLabels, nil)
	descTenantXID   = prometheus.NewDesc("tenantfleet_tenant_xid_age", "max(age(relfrozenxid)) over the tenant schema: top K per instance plus other (their maximum).", tenantLabels, nil)
	descStoreUp     = prometheus.NewDesc("tenantfleet_health_store_up", "1 when the latest health could be read from the control plane.", nil, nil)
)

// Collector serves the latest health from the control plane, so every
// fleet process serves the same figures whichever worker swept. Per-tenant
// series are capped at TopTenants per instance and series, the rest summed
// into tenant="other".
func (a *Agent) Collector() prometheus.Collector { return &collector{a: a} }

type collector struct{ a *Agent }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descPing, descConns, descMaxConns, descLag, descCapacity,
		descBlocked, descDrained, descTenantConns, descTenantXID, descStoreUp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	insts, err := c.a.cfg.Store.ListInstanceHealth(ctx, "")
	var list []controlplane.TenantHealth
	if err == nil {
		list, err = c.a.cfg.Store.ListTenantHealth(ctx, controlplane.TenantHealthFilter{})
	}
	if err != nil {
		c.a.cfg.Logger.Warn("health: metrics: read latest health", slog.Any("error", err))
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, h := range insts {
		up := 0.0
		if h.Up {
			up = 1
		}
		gauge(descUp, up, h.InstanceID)
		gauge(descPing, h.PingSeconds, h.InstanceID)
		gauge(descConns, float64(h.ServerConnections), h.InstanceID)
		gauge(descMaxConns, float64(h.MaxConnections), h.InstanceID)
		gauge(descCapacity, h.CapacityRatio, h.InstanceID)
		gauge(descBlocked, float64(h.Blocked), h.InstanceID)
		ch <- prometheus.MustNewConstMetric(descDrained, prometheus.CounterValue, float64(h.DrainedTotal), h.InstanceID)
		for _, r := range replicasOf(h) {
			if r.Error == "" {
				gauge(descLag, r.LagSeconds, h.InstanceID, r.Name)
			}
		}
	}
	byInstance := map[string][]controlplane.TenantHealth{}
	for _, t := range list {
		byInstance[t.InstanceID] = append(byInstance[t.InstanceID], t)
	}
	k := c.a.cfg.TopTenants
	for inst, ts := range byInstance {
		topK(ts, k, func(t controlplane.TenantHealth) float64 { return float64(t.Connections) }, false,
			func(tenant string, v float64) { gauge(descTenantConns, v, inst, tenant) })
		topK(ts, k, func(t controlplane.TenantHealth) float64 { return float64(t.XIDAge) }, true,
			func(tenant string, v float64) { gauge(descTenantXID, v, inst, tenant) })
	}
}

// topK emits the k tenants with the highest value, then "other": the sum of
// the rest, or their maximum when useMax.
func topK(ts []controlplane.TenantHealth, k int, value func(controlplane.TenantHealth) float64, useMax bool, emit func(string, float64)) {
	sorted := append([]controlplane.TenantHealth(nil), ts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if vi, vj := value(sorted[i]), value(sorted[j]); vi != vj {
			return vi > vj
		}
		return sorted[i].TenantID < sorted[j].TenantID
	})
	other, rest := 0.0, false
	for i, t := range sorted {
		if i < k {
			emit(t.TenantID, value(t))
			continue
		}
		rest = true
		if useMax {
			other = max(other, value(t))
		} else {
			other += value(t)
		}
	}
	if rest {
		emit(OtherTenants, other)
	}
}

// replicasOf decodes the replicas from a stored report's details.
func replicasOf(h controlplane.InstanceHealth) []Replica {
	var d Details
	if len(h.Details) == 0 || json.Unmarshal(h.Details, &d) != nil {
		return nil
	}
	return d.Replicas
}
