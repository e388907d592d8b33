package dblease_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/dblease"
)

// serverConfig is the Redis of the fleet's configuration (FLEET_REDIS_URL,
// default the local server).
func serverConfig(t *testing.T) redisconn.Config {
	t.Helper()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Redis()
}

// leaseKey reads the lease key of db in database 0.
func leaseKey(t *testing.T, rc redisconn.Config, db int) (string, time.Duration) {
	t.Helper()
	target, err := redisconn.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	c := target.WithDB(0).NewClient()
	defer c.Close()
	key := "tenantfleet:test:redisdb:" + strconv.Itoa(db)
	v, err := c.Get(t.Context(), key).Result()
	if errors.Is(err, redis.Nil) {
		return "", 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, c.TTL(t.Context(), key).Val()
}

func TestAcquireGivesEachOwnerItsOwnEmptiedDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rc := serverConfig(t)
	owner := "dblease_test_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	a, err := dblease.Acquire(ctx, rc, owner+"_a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Release(context.WithoutCancel(ctx)) }()
	b, err := dblease.Acquire(ctx, rc, owner+"_b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a.DB == b.DB || a.DB < 1 || a.DB > 15 || b.DB < 1 || b.DB > 15 {
		t.Fatalf("leased databases %d and %d; want two different ones in 1..15", a.DB, b.DB)
	}
	if !strings.HasSuffix(a.URL, "/"+strconv.Itoa(a.DB)) {
		t.Errorf("URL %q does not name database %d", a.URL, a.DB)
	}
	if v, ttl := leaseKey(t, rc, a.DB); v != owner+"_a" || ttl <= 0 || ttl > time.Minute {
		t.Errorf("lease key of db %d: owner %q ttl %s; want %q with a TTL of at most 1m", a.DB, v, ttl, owner+"_a")
	}
	if n := a.Client.DBSize(ctx).Val(); n != 0 {
		t.Errorf("leased database %d holds %d keys; want it emptied", a.DB, n)
	}
	// The lease's client reaches its own database only.
	if err := b.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := a.Client.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("a key of database %d is visible in database %d", b.DB, a.DB)
	}
	// A URL-built client reaches the same database as Client.
	opt, err := redis.ParseURL(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	viaURL := redis.NewClient(opt)
	defer viaURL.Close()
	if got := viaURL.Get(ctx, "k").Val(); got != "v" {
		t.Errorf("via URL %q: got %q, want the key set through Client", b.URL, got)
	}

	db := b.DB
	if err := b.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if v, _ := leaseKey(t, rc, db); v == owner+"_b" {
		t.Errorf("lease of database %d still held after Release", db)
	}
	if n := viaURL.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("Release left the key in database %d", db)
	}
}

// A holder whose lease expired and was taken over must not drop the new
// owner's lease, nor empty its database, when it releases.
func TestReleaseLeavesALeaseAnotherOwnerTook(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rc := serverConfig(t)
	l, err := dblease.Acquire(ctx, rc, "dblease_test_old_"+strconv.FormatInt(time.Now().UnixNano(), 36), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	target, err := redisconn.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	leases := target.WithDB(0).NewClient()
	defer leases.Close()
	key := "tenantfleet:test:redisdb:" + strconv.Itoa(l.DB)
	newOwner := "dblease_test_new_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := leases.Set(ctx, key, newOwner, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if v, _ := leases.Get(context.WithoutCancel(ctx), key).Result(); v == newOwner {
			leases.Del(context.WithoutCancel(ctx), key)
		}
	}()
	if err := l.Client.Set(ctx, "new-owner-data", "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	other := target.WithDB(l.DB).NewClient()
	defer other.Close()
	defer other.Del(context.WithoutCancel(ctx), "new-owner-data")
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if v, _ := leaseKey(t, rc, l.DB); v != newOwner {
		t.Errorf("lease key after the old holder's Release: %q; want the new owner's %q", v, newOwner)
	}
	if n := other.Exists(ctx, "new-owner-data").Val(); n != 1 {
		t.Errorf("the old holder's Release emptied database %d, which the new owner holds", l.DB)
	}
}

func TestAcquireRejectsABadURL(t *testing.T) {
	t.Parallel()
	if _, err := dblease.Acquire(t.Context(), redisconn.Config{URL: "127.0.0.1:6379"}, "x", time.Minute); err == nil {
		t.Fatal("Acquire with a URL without a scheme: no error")
	}
}
