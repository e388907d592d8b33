package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/wiring"
)

// wireFleet loads the configuration from env, opens the app and builds the
// fleet's services as `fleet run` does; both close when the test ends.
func wireFleet(t *testing.T, ctx context.Context, env map[string]string) (*app, *wiring.Services) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(ctx, cfg, cptest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	svc, err := wiring.New(ctx, a.conns())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return a, svc
}

// scratchFleet gives a test its own control plane, Redis database and
// fleet name (its roles dropped when the test ends), as the FLEET_*
// environment of `fleet` commands.
func scratchFleet(t *testing.T, prefix string) (env map[string]string, db *pgxpool.Pool, rdb *redis.Client) {
	t.Helper()
	dbURL, db := cptest.Database(t)
	redisURL, rdb := cptest.RedisDB(t)
	fleet := cptest.UniqueName(prefix)[:9]
	cptest.DropFleetOnCleanup(t, fleet)
	return map[string]string{"FLEET_DATABASE_URL": dbURL, "FLEET_REDIS_URL": redisURL, "FLEET_NAME": fleet}, db, rdb
}
