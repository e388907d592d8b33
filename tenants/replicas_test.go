package tenants_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ownLogins logs strict tenants in as their own role (the private cluster
// trusts loopback connections; the password is what EnableLogin set).
type ownLogins struct{}

func (ownLogins) Login(_ context.Context, r tenants.Route) (string, string, error) {
	return r.Role, "replica-test", nil
}

// seen is what one piece of read-only work saw of its session.
type seen struct {
	recovery bool
	user     string
	path     string
	readOnly string
	v        string
}

// Read-only work of a tenant goes to a real streaming replica of its
// instance, scoped exactly as on the primary (tenant role, its
// search_path, read-only, no reach into another tenant); it falls back to
// the primary while the replica lags past MaxReplicaLag or does not
// answer, and returns to it once it caught up.
func TestReadOnlyWorkRoutesToReplica(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"max_connections": "60"}})
	fleet := cptest.UniqueName("rr")
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE data"); err != nil {
		t.Fatal(err)
	}
	data, err := pgx.Connect(ctx, pg.URL("data"))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close(ctx)
	if err := tenants.PrepareDatabase(ctx, data, fleet, "data"); err != nil {
		t.Fatal(err)
	}
	_, cp := cptest.Database(t)
	store := controlplane.NewStore(cp)
	if _, err := store.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "ia", Status: provider.StatusReady,
		Host: "127.0.0.1", Port: pg.Port, Database: "data"}, Provider: "local", Tier: tenants.Shared}); err != nil {
		t.Fatal(err)
	}
	names := map[string]tenants.Names{}
	for _, id := range []string{"ten-a", "ten-b", "ten-s"} {
		n, err := tenants.NamesFor(fleet, id)
		if err != nil {
			t.Fatal(err)
		}
		names[id] = n
		if err := tenants.EnsureTenant(ctx, data, n); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: "ia", Database: "data", Schema: n.Schema, Role: n.Role}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
			t.Fatal(err)
		}
	}
	// ten-s is strict: its work logs in as its own role.
	verifier, err := sessions.Verifier("replica-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenants.EnableLogin(ctx, data, names["ten-s"], verifier); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantIsolation(ctx, "ten-s", tenants.Strict); err != nil {
		t.Fatal(err)
	}
	_, rdb := cptest.RedisDB(t)
	router, err := tenants.NewRouter(tenants.RouterConfig{Source: store, Redis: rdb, Fleet: fleet, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: router, Fleet: fleet, Replicas: store, PoolSize: 4,
		MaxReplicaLag: time.Second, ReplicaCheckInterval: time.Nanosecond, ReplicaRetry: time.Nanosecond,
		ReplicaListTTL: time.Nanosecond, Logins: ownLogins{}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pools.Stop()
	for _, id := range []string{"ten-a", "ten-b", "ten-s"} {
		if err := pools.WithTenant(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "CREATE TABLE items (v text); INSERT INTO items VALUES ('"+id+"')")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	look := func(readOnly bool) seen {
		t.Helper()
		var s seen
		fn := pools.WithTenant
		if readOnly {
			fn = pools.WithTenantReadOnly
		}
		if err := fn(ctx, "ten-a", func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_user, current_setting('search_path'),
				current_setting('transaction_read_only'), (SELECT string_agg(v, ',' ORDER BY v) FROM items)`).
				Scan(&s.recovery, &s.user, &s.path, &s.readOnly, &s.v)
		}); err != nil {
			t.Fatalf("work of ta (read-only %v): %v", readOnly, err)
		}
		return s
	}

	// No replica in the catalog yet: the primary.
	if s := look(true); s.recovery {
		t.Fatalf("read-only work without a replica ran on a standby: %+v", s)
	}
	replica := pg.StartReplica(t, map[string]string{"wal_receiver_status_interval": "1"})
	if _, err := store.CreateReplica(ctx, controlplane.Replica{ID: "ia-r1", InstanceID: "ia", Host: "127.0.0.1", Port: replica.Port,
		ProviderRef: "ia-r1", Status: provider.StatusReady}); err != nil {
		t.Fatal(err)
	}
	s := look(true)
	want := seen{recovery: true, user: names["ten-a"].Role, path: `"` + names["ten-a"].Schema + `"`, readOnly: "on", v: "ten-a"}
	if s != want {
		t.Fatalf("read-only work = %+v, want it on the replica as the tenant: %+v", s, want)
	}
	var rec bool
	if err := pools.QueryRowReadOnly(ctx, "ten-a", "SELECT pg_is_in_recovery() FROM items").Scan(&rec); err != nil || !rec {
		t.Fatalf("QueryRowReadOnly on the replica: recovery %v, %v", rec, err)
	}
	// A strict tenant's read-only work: on the replica, logged in as its
	// own role.
	var strictRec bool
	var sessionUser, strictV string
	if err := pools.WithTenantReadOnly(ctx, "ten-s", func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT pg_is_in_recovery(), session_user::text, v FROM items").Scan(&strictRec, &sessionUser, &strictV)
	}); err != nil || !strictRec || sessionUser != names["ten-s"].Role || strictV != "ten-s" {
		t.Fatalf("strict read-only work: recovery %v, session user %q, v %q, %v; want the replica as %s", strictRec, sessionUser, strictV, err, names["ten-s"].Role)
	}
	if s := look(false); s.recovery || s.readOnly != "off" {
		t.Fatalf("read-write work = %+v, want the primary", s)
	}
	// Isolation on the replica: another tenant's table is out of reach,
	// and so is becoming anyone else.
	err = pools.WithTenantReadOnly(ctx, "ten-a", func(ctx context.Context, tx pgx.Tx) error {
		var v string
		return tx.QueryRow(ctx, fmt.Sprintf("SELECT v FROM %s.items", names["ten-b"].Schema)).Scan(&v)
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("ta reading tb's table on the replica: %v, want permission denied", err)
	}
	err = pools.WithTenantReadOnly(ctx, "ten-a", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET ROLE postgres")
		return err
	})
	if err == nil {
		t.Fatal("ta became postgres on the replica")
	}

	// Replay paused while the primary writes: past 1s of lag, back to the
	// primary (which has the new row).
	standby, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := pools.WithTenant(ctx, "ten-a", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO items VALUES ('late')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, time.Minute, "the replica lags past 1s", func() bool {
		if _, err := admin.Exec(ctx, "SELECT txid_current()"); err != nil {
			t.Fatal(err)
		}
		l, err := tenants.ReadStandbyLag(ctx, standby)
		return err == nil && l.Lag > 1500*time.Millisecond
	})
	if s := look(true); s.recovery || s.v != "late,ten-a" {
		t.Fatalf("read-only work while the replica lags = %+v, want the primary", s)
	}
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, time.Minute, "read-only work back on the caught-up replica", func() bool {
		s := look(true)
		return s.recovery && s.v == "late,ten-a"
	})

	// A replica that does not answer: the primary, no error.
	if _, err := store.UpdateReplica(ctx, "ia-r1", provider.Instance{Status: provider.StatusReady, Host: "127.0.0.1", Port: 1}); err != nil {
		t.Fatal(err)
	}
	if s := look(true); s.recovery {
		t.Fatalf("read-only work with the replica down = %+v, want the primary", s)
	}
}
