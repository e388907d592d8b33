package pgtest_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/pgtest"
)

func TestStartSettingsAndRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"application_name": "it's quoted"}})
	ctx := t.Context()
	for _, dsn := range []string{c.URL("postgres"), c.SocketDSN("postgres")} {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect %s: %v", dsn, err)
		}
		var ssl, name string
		if err := conn.QueryRow(ctx, "SELECT current_setting('ssl'), current_setting('application_name')").Scan(&ssl, &name); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(ctx)
		if ssl != "off" || name != "it's quoted" {
			t.Errorf("%s: got ssl %q application_name %q, want off and the configured name", dsn, ssl, name)
		}
	}
	if err := c.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	_ = conn.Close(ctx)
}

// A replica streams from its primary: a row written on the primary is read
// on the replica, which is in recovery and refuses writes.
func TestStartReplicaStreams(t *testing.T) {
	t.Parallel()
	primary := pgtest.Start(t, pgtest.Options{})
	replica := primary.StartReplica(t, nil)
	ctx := t.Context()
	pc, err := pgx.Connect(ctx, primary.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	if _, err := pc.Exec(ctx, "CREATE TABLE streamed AS SELECT 42 AS v"); err != nil {
		t.Fatal(err)
	}
	var lsn string
	if err := pc.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	rc, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(ctx)
	var caught bool
	for range 300 { // replay is asynchronous: wait for the primary's position
		if err := rc.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&caught); err != nil {
			t.Fatal(err)
		}
		if caught {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var v int
	var recovery bool
	if err := rc.QueryRow(ctx, "SELECT v, pg_is_in_recovery() FROM streamed").Scan(&v, &recovery); err != nil || v != 42 || !recovery {
		t.Fatalf("on the replica: v %d, in recovery %v, %v", v, recovery, err)
	}
	if _, err := rc.Exec(ctx, "CREATE TABLE refused (v int)"); err == nil {
		t.Fatal("the replica accepted a write")
	}
	var app string
	if err := pc.QueryRow(ctx, "SELECT application_name FROM pg_stat_replication").Scan(&app); err != nil || app != "replica" {
		t.Fatalf("pg_stat_replication: %q, %v", app, err)
	}
}
