package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// CatalogDrift is the alert kind of a tenant whose role, schema or grants
// are not as provisioning left them. Subject: the tenant id.
const CatalogDrift alerts.Kind = "tenant_catalog_drift"

// tenantKinds are the per-tenant (or per-occurrence) kinds a sweep
// observes: only their open alerts are cleared explicitly, so a sweep of
// 1,000 healthy tenants costs one read of the open alerts, not 3,000
// observations.
var tenantKinds = []alerts.Kind{alerts.XIDAgeHigh, CatalogDrift, alerts.IdleInTransactionTerminated}

// maxOpenAlerts bounds the open alerts one pass reads back to clear.
const maxOpenAlerts = 100_000

// observe reports every condition of the instance and its tenants to the
// engine. A down instance observes only instance_down: what the sweep could
// not read stays as it was (and its tenants' alerts are inhibited).
func (a *Agent) observe(ctx context.Context, inst controlplane.Instance, active []controlplane.Tenant, rep Report) error {
	e := a.cfg.Alerts
	h := rep.Instance
	ids := make([]string, len(active))
	for i, t := range active {
		ids[i] = t.ID
	}
	var errs []error
	obs := func(c alerts.Condition, on bool) {
		c.Instance = inst.ID
		if _, err := e.Observe(ctx, c, on); err != nil {
			errs = append(errs, err)
		}
	}
	obs(alerts.Condition{Kind: alerts.InstanceDown, Subject: inst.ID, Affected: ids,
		Summary: fmt.Sprintf("instance %s does not answer the health sweep: %s", inst.ID, h.Error),
		Details: map[string]any{"error": h.Error, "tenants": len(ids)}}, !h.Up)
	if !h.Up {
		return errors.Join(errs...)
	}
	ratio := 0.0
	if h.MaxConnections > 0 {
		ratio = float64(h.ServerConnections) / float64(h.MaxConnections)
	}
	obs(alerts.Condition{Kind: alerts.ConnectionsHigh, Subject: inst.ID,
		Summary: fmt.Sprintf("instance %s: %d of max_connections %d in use", inst.ID, h.ServerConnections, h.MaxConnections),
		Details: map[string]any{"connections": h.ServerConnections, "database_connections": h.Connections, "max_connections": h.MaxConnections}},
		ratio >= a.cfg.ConnectionsHigh)
	obs(alerts.Condition{Kind: alerts.CapacityHigh, Subject: inst.ID,
		Summary: fmt.Sprintf("instance %s is %.0f%% full", inst.ID, 100*h.CapacityRatio),
		Details: map[string]any{"capacity_ratio": h.CapacityRatio, "tenants": len(ids)}}, h.CapacityRatio >= a.cfg.CapacityHigh)
	a.observeChains(obs, inst, rep.Details.Chains)
	lagging := []Replica{}
	for _, r := range rep.Details.Replicas {
		if r.Error != "" || secs(r.LagSeconds) >= a.cfg.ReplicationLagHigh {
			lagging = append(lagging, r)
		}
	}
	obs(alerts.Condition{Kind: alerts.ReplicationLag, Subject: inst.ID,
		Summary: fmt.Sprintf("instance %s: %d replicas lag past %s", inst.ID, len(lagging), a.cfg.ReplicationLagHigh),
		Details: map[string]any{"replicas": lagging}}, len(lagging) > 0)

	// Tenant-level: raise what is true, clear the open alerts that no
	// longer are.
	now := map[string]bool{}
	for _, t := range rep.Tenants {
		if t.XIDAge >= a.cfg.XIDAgeHigh {
			c := alerts.Condition{Kind: alerts.XIDAgeHigh, Subject: t.TenantID, Tenant: t.TenantID,
				Summary: fmt.Sprintf("tenant %s on %s: transaction id age %d", t.TenantID, inst.ID, t.XIDAge),
				Details: map[string]any{"xid_age": t.XIDAge}}
			now[alerts.DedupKey(c.Kind, c.Subject)] = true
			obs(c, true)
		}
		if !t.CatalogOK {
			c := alerts.Condition{Kind: CatalogDrift, Subject: t.TenantID, Tenant: t.TenantID, Severity: alerts.Critical,
				Summary: fmt.Sprintf("tenant %s on %s is not as provisioned: %v", t.TenantID, inst.ID, t.Problems),
				Details: map[string]any{"problems": t.Problems}}
			now[alerts.DedupKey(c.Kind, c.Subject)] = true
			obs(c, true)
		}
	}
	for _, d := range rep.Drained {
		c := alerts.Condition{Kind: alerts.IdleInTransactionTerminated, Subject: drainSubject(d), Tenant: d.TenantID,
			Summary: fmt.Sprintf("terminated session %d of %s on %s: idle in transaction for %.0fs",
				d.PID, cmp.Or(d.TenantID, d.UserName), inst.ID, d.IdleSeconds),
			Details: map[string]any{"pid": d.PID, "user": d.UserName, "idle_seconds": d.IdleSeconds, "drain_id": d.ID}}
		now[alerts.DedupKey(c.Kind, c.Subject)] = true
		obs(c, true)
	}
	// Every open alert of the instance, past the engine's page limit: the
	// control plane's own read.
	open, err := a.cfg.Store.ListAlerts(ctx, controlplane.AlertFilter{OpenOnly: true, Subject: inst.ID, Limit: maxOpenAlerts})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, al := range open {
		if al.InstanceID == inst.ID && slices.Contains(tenantKinds, alerts.Kind(al.Kind)) && !now[al.DedupKey] {
			obs(alerts.Condition{Kind: alerts.Kind(al.Kind), Subject: al.Subject}, false)
		}
	}
	return errors.Join(errs...)
}

// observeChains raises blocking_chain while some session waited on a lock
// for BlockedFor, naming the largest chain's root and its tenant.
func (a *Agent) observeChains(obs func(alerts.Condition, bool), inst controlplane.Instance, list []Chain) {
	var long []Chain
	for _, c := range list {
		if secs(c.LongestWaitSeconds) >= a.cfg.BlockedFor {
			long = append(long, c)
		}
	}
	c := alerts.Condition{Kind: alerts.BlockingChain, Subject: inst.ID, Summary: "no blocking chain on " + inst.ID}
	if len(long) > 0 {
		root := long[0]
		c.Summary = fmt.Sprintf("instance %s: session %d of %s (%s) blocks %d sessions, the longest for %.0fs",
			inst.ID, root.RootPID, cmp.Or(root.RootTenant, root.RootUser), root.RootState, root.Waiting, root.LongestWaitSeconds)
		c.Details = map[string]any{"root_pid": root.RootPID, "root_tenant": root.RootTenant, "root_user": root.RootUser,
			"waiting": root.Waiting, "waiting_tenants": root.WaitingTenants, "chains": long}
		c.Affected = root.WaitingTenants
		if root.RootTenant != "" {
			c.Affected = append([]string{root.RootTenant}, c.Affected...)
		}
	}
	obs(c, len(long) > 0)
}

// drainSubject names a termination's alert: the tenant's (or, for an
// unattributed session, the user's) drains on the instance.
func drainSubject(d controlplane.Drain) string {
	return d.InstanceID + "/" + cmp.Or(d.TenantID, d.UserName)
}
