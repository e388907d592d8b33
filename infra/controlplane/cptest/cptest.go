// Package cptest gives tests their own slice of the real PostgreSQL and Redis
// servers: a scratch control-plane database migrated to the latest version
// and dropped afterwards, a Redis database number leased for the test, and a
// unique fleet name for cluster-wide role names and Redis keys.
//
// The servers are the ones the fleet itself is configured for
// (FLEET_DATABASE_URL, FLEET_REDIS_URL, with the same defaults); `make test`
// starts them when they are down. A missing server fails the test: it is
// never skipped.
package cptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/dblease"
)

// ServerConfig is the fleet configuration the tests run against, read from
// the environment like `fleet` does.
func ServerConfig(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		t.Fatalf("cptest: load config: %v", err)
	}
	return cfg
}

// UniqueName returns a short random lowercase name with the given prefix,
// usable as a fleet name, database name or key prefix.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// DiscardLogger returns a logger that writes nothing, or to stderr when
// FLEET_TEST_LOG=1.
func DiscardLogger() *slog.Logger {
	if os.Getenv("FLEET_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Database creates a scratch database on the test server, applies the
// control-plane migrations, and drops it when the test ends. It returns the
// database URL and an open pool.
func Database(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := ScratchDatabase(t)
	url := config.WithDatabase(ServerConfig(t).DatabaseURL, name)
	pool, err := controlplane.Open(ctx, url, DiscardLogger())
	if err != nil {
		t.Fatalf("cptest: open control plane %s: %v", name, err)
	}
	t.Cleanup(pool.Close)
	return url, pool
}

// ScratchDatabase creates an empty database and drops it (forcibly) when
// the test ends. It returns the database name.
func ScratchDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := config.WithDatabase(ServerConfig(t).DatabaseURL, "postgres")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("cptest: connect to %s: %v (is PostgreSQL running? `make services` starts it)", config.Redact(admin), err)
	}
	defer conn.Close(ctx)
	name := UniqueName("tftest_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("cptest: create database: %v", err)
	}
	t.Cleanup(func() { DropDatabase(t, admin, name) })
	return name
}

// DropDatabase drops a database, disconnecting its sessions first.
func DropDatabase(t testing.TB, adminURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Errorf("cptest: drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("cptest: drop %s: %v", name, err)
	}
}

// redisLeaseTTL bounds how long a crashed test run keeps a Redis database.
const redisLeaseTTL = 10 * time.Minute

// RedisDB leases one of Redis databases 1 to 15 for the test (package
// dblease), empties it, and returns its URL and a client. Database 0 holds
// only the leases, so tests never touch each other's keys or the fleet's
// own. It waits for a free database when all are leased.
func RedisDB(t testing.TB) (string, *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := ServerConfig(t).Redis()
	owner := UniqueName("lease_")
	for {
		lease, err := dblease.Acquire(ctx, rc, owner, redisLeaseTTL)
		if err == nil {
			t.Cleanup(func() { _ = lease.Release(context.Background()) })
			return lease.URL, lease.Client
		}
		if !errors.Is(err, dblease.ErrNoneFree) {
			t.Fatalf("cptest: %v (is Redis running? `make services` starts it)", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cptest: no free redis database within 2m")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DropFleetOnCleanup removes, when the test ends, what a fleet named fleet
// left on the test server: the local provider's instance databases
// ("<fleet>_inst_...") and the fleet's cluster-wide roles ("<fleet>_...").
func DropFleetOnCleanup(t testing.TB, fleet string) {
	t.Helper()
	admin := config.WithDatabase(ServerConfig(t).DatabaseURL, "postgres")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("cptest: drop fleet %s: %v", fleet, err)
			return
		}
		defer conn.Close(ctx)
		if err := local.DropFleetDatabases(ctx, conn, fleet); err != nil {
			t.Errorf("cptest: drop fleet %s: %v", fleet, err)
		}
		// The same as tenants.DropFleetRoles, which cptest cannot call:
		// tenants' in-package tests import cptest.
		roles, _ := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '\_%'`, fleet)
		names, err := pgx.CollectRows(roles, pgx.RowTo[string])
		if err != nil {
			t.Errorf("cptest: list %s roles: %v", fleet, err)
		}
		for _, r := range names {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("cptest: drop role %s: %v", r, err)
			}
		}
	})
}
