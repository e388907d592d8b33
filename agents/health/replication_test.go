package health

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// replication_lag against a real streaming replica of the instance's
// server: quiet while it keeps up, fires once while its replay is paused
// and the primary writes, and resolves once replay resumes; the collector
// serves the replica's lag.
func TestSweepReplicationLag(t *testing.T) {
	e := setup(t, setupOpts{tenants: 1,
		cluster: &pgtest.Options{Settings: map[string]string{"max_connections": "40", "autovacuum": "off"}},
		cfg:     func(c *Config) { c.ReplicationLagHigh = 2 * time.Second }})
	ctx := testContext(t)
	// Created before the base backup, so the replica starts with nothing to
	// replay.
	if _, err := e.admin.Exec(ctx, "CREATE TABLE public.wal_writes (at timestamptz)"); err != nil {
		t.Fatal(err)
	}
	replica := e.cluster.StartReplica(t, map[string]string{"wal_receiver_status_interval": "1"})
	standby, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Close(ctx) })
	write := func() {
		if _, err := e.admin.Exec(ctx, "INSERT INTO public.wal_writes VALUES (now())"); err != nil {
			t.Fatal(err)
		}
	}
	var rep Report
	if err := eventually(30*time.Second, func() bool {
		rep = e.sweep(t)
		return len(rep.Details.Replicas) == 1
	}); err != nil {
		t.Fatalf("replicas = %+v, want the streaming replica", rep.Details.Replicas)
	}
	if r := rep.Details.Replicas[0]; r.Name != "replica" {
		t.Fatalf("replica = %+v", r)
	}
	if list := e.alertsOf(t, alerts.ReplicationLag, e.inst.ID); len(list) != 0 {
		t.Fatalf("replication_lag while the replica keeps up: %+v", list)
	}

	if _, err := standby.Exec(ctx, "SELECT pg_catalog.pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(60*time.Second, func() bool {
		write()
		rep = e.sweep(t)
		return len(e.alertsOf(t, alerts.ReplicationLag, e.inst.ID)) > 0
	}); err != nil {
		t.Fatalf("replication_lag while replay is paused: replicas %+v", rep.Details.Replicas)
	}
	e.sweep(t)
	e.assertOneAlert(t, alerts.ReplicationLag, e.inst.ID, alerts.StatusFiring)
	lag := series(gather(t, e.agent.Collector()), "tenantfleet_instance_replication_lag_seconds")
	if v := lag["instance_id="+e.inst.ID+",replica=replica"]; len(lag) != 1 || v < 2 {
		t.Fatalf("replication lag series = %v", lag)
	}

	if _, err := standby.Exec(ctx, "SELECT pg_catalog.pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(60*time.Second, func() bool {
		write()
		e.sweep(t)
		return e.alertsOf(t, alerts.ReplicationLag, e.inst.ID)[0].Status == alerts.StatusResolved
	}); err != nil {
		t.Fatalf("replication_lag after replay resumed = %+v", e.alertsOf(t, alerts.ReplicationLag, e.inst.ID))
	}
	e.assertOneAlert(t, alerts.ReplicationLag, e.inst.ID, alerts.StatusResolved)
}

// replication_lag from a catalog replica, read on the replica itself: its
// lag is recorded in the catalog, the alert fires while replay is paused
// and resolves once it resumes; a catalog replica that does not answer
// counts as lagging.
func TestSweepCatalogReplicaLag(t *testing.T) {
	e := setup(t, setupOpts{tenants: 1,
		cluster: &pgtest.Options{Settings: map[string]string{"max_connections": "40", "autovacuum": "off"}},
		cfg:     func(c *Config) { c.ReplicationLagHigh = 2 * time.Second }})
	ctx := testContext(t)
	if _, err := e.admin.Exec(ctx, "CREATE TABLE public.wal_writes (at timestamptz)"); err != nil {
		t.Fatal(err)
	}
	replica := e.cluster.StartReplica(t, map[string]string{"wal_receiver_status_interval": "1"})
	if _, err := e.store.CreateReplica(ctx, controlplane.Replica{ID: e.inst.ID + "-r1", InstanceID: e.inst.ID,
		Host: "127.0.0.1", Port: replica.Port, Status: provider.StatusReady}); err != nil {
		t.Fatal(err)
	}
	standby, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Close(ctx) })
	catalogOf := func(rep Report) []Replica {
		var out []Replica
		for _, r := range rep.Details.Replicas {
			if r.Catalog {
				out = append(out, r)
			}
		}
		return out
	}
	rep := e.sweep(t)
	if c := catalogOf(rep); len(c) != 1 || c[0].Name != e.inst.ID+"-r1" || c[0].Error != "" || c[0].LagSeconds >= 2 {
		t.Fatalf("catalog replicas = %+v, want the keeping-up replica", c)
	}
	if r, err := e.store.GetReplica(ctx, e.inst.ID+"-r1"); err != nil || r.LagSeconds == nil || r.LagCheckedAt == nil {
		t.Fatalf("recorded lag = %+v, %v", r, err)
	}
	if list := e.alertsOf(t, alerts.ReplicationLag, e.inst.ID); len(list) != 0 {
		t.Fatalf("replication_lag while the replica keeps up: %+v", list)
	}
	if _, err := standby.Exec(ctx, "SELECT pg_catalog.pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(60*time.Second, func() bool {
		if _, err := e.admin.Exec(ctx, "INSERT INTO public.wal_writes VALUES (now())"); err != nil {
			t.Fatal(err)
		}
		rep = e.sweep(t)
		c := catalogOf(rep)
		return len(c) == 1 && c[0].LagSeconds >= 2 && len(e.alertsOf(t, alerts.ReplicationLag, e.inst.ID)) > 0
	}); err != nil {
		t.Fatalf("replication_lag while replay is paused: replicas %+v", rep.Details.Replicas)
	}
	e.assertOneAlert(t, alerts.ReplicationLag, e.inst.ID, alerts.StatusFiring)
	if r, _ := e.store.GetReplica(ctx, e.inst.ID+"-r1"); r.LagSeconds == nil || *r.LagSeconds < 2 {
		t.Fatalf("recorded lag while paused = %+v", r)
	}
	if _, err := standby.Exec(ctx, "SELECT pg_catalog.pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(60*time.Second, func() bool {
		e.sweep(t)
		return e.alertsOf(t, alerts.ReplicationLag, e.inst.ID)[0].Status == alerts.StatusResolved
	}); err != nil {
		t.Fatalf("replication_lag after replay resumed = %+v", e.alertsOf(t, alerts.ReplicationLag, e.inst.ID))
	}

	// A second catalog replica nobody listens on: lagging, with why.
	if _, err := e.store.CreateReplica(ctx, controlplane.Replica{ID: e.inst.ID + "-r2", InstanceID: e.inst.ID,
		Host: "127.0.0.1", Port: 1, Status: provider.StatusReady}); err != nil {
		t.Fatal(err)
	}
	rep = e.sweep(t)
	var down *Replica
	for _, r := range catalogOf(rep) {
		if r.Name == e.inst.ID+"-r2" {
			down = &r
		}
	}
	if down == nil || down.Error == "" {
		t.Fatalf("unreachable catalog replica = %+v", catalogOf(rep))
	}
	if list := e.alertsOf(t, alerts.ReplicationLag, e.inst.ID); list[0].Status != alerts.StatusFiring {
		t.Fatalf("replication_lag with a replica down = %+v", list)
	}
	if r, _ := e.store.GetReplica(ctx, e.inst.ID+"-r2"); r.LagSeconds != nil || r.LagError == "" {
		t.Fatalf("recorded reading of the down replica = %+v", r)
	}
}
