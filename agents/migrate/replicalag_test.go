package migrate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// A real streaming replica in the catalog, its replay paused while the
// primary writes: the run pauses every tenant of the instance on the
// replica's lag (no load source configured: the catalog alone), and
// finishes once replay resumes.
func TestCatalogReplicaLagPausesRun(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"fsync": "off", "max_connections": "50"}})
	ctx := testContext(t)
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE tenants"); err != nil {
		t.Fatal(err)
	}
	e := setup(t, options{adminURL: pg.URL("postgres")})
	a := e.addInstance(t, "ia", 4, "tenants", "127.0.0.1", pg.Port)
	replica := pg.StartReplica(t, map[string]string{"wal_receiver_status_interval": "1"})
	if _, err := e.catalog.CreateReplica(ctx, controlplane.Replica{ID: "ia-r1", InstanceID: "ia", Host: "127.0.0.1",
		Port: replica.Port, ProviderRef: "ia-r1", Status: provider.StatusReady}); err != nil {
		t.Fatal(err)
	}
	// A replica still being created is not waited for.
	if _, err := e.catalog.CreateReplica(ctx, controlplane.Replica{ID: "ia-r2", InstanceID: "ia", Host: "127.0.0.1", Port: 1}); err != nil {
		t.Fatal(err)
	}
	standby, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE TABLE wal_writes (at timestamptz)"); err != nil {
		t.Fatal(err)
	}
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, time.Minute, "the standby lags past 1s", func() bool {
		if _, err := admin.Exec(ctx, "INSERT INTO wal_writes VALUES (now())"); err != nil {
			t.Fatal(err)
		}
		lag, err := tenants.ReadStandbyLag(ctx, standby)
		return err == nil && lag.Lag > 1500*time.Millisecond
	})
	e.startWorker(t, e.runner, 4)
	id, err := e.runner.Start(ctx, migrate.Spec{LagThreshold: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var st migrate.RunStatus
	eventually.True(t, time.Minute, "every tenant paused on the replica's lag", func() bool {
		st, err = e.runner.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Counts.Paused == 4
	})
	for _, tr := range st.Tenants {
		if !strings.Contains(tr.Reason, "replica ia-r1 lag") || !strings.Contains(tr.Reason, "above 1s") {
			t.Errorf("tenant %s: reason %q, want the replica's lag", tr.TenantID, tr.Reason)
		}
		if v := e.version(t, a, tr.TenantID); v != 0 {
			t.Errorf("paused tenant %s migrated to %d", tr.TenantID, v)
		}
	}
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	st = e.wait(t, id)
	if st.Status != migrate.RunSucceeded {
		t.Fatalf("after replay resumed: run %s, %+v", st.Status, st.Counts)
	}
	for _, tid := range a.tenants {
		if v := e.version(t, a, tid); v != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, v)
		}
	}
}
