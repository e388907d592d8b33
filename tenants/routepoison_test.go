package tenants

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

// countingSource wraps the real catalog and counts the routes read from
// it, so a test can tell a Redis hit from a fallback to Postgres.
type countingSource struct {
	RouteSource
	routes atomic.Int64
}

func (c *countingSource) Route(ctx context.Context, id string) (Route, error) {
	c.routes.Add(1)
	return c.RouteSource.Route(ctx, id)
}

// routerOver starts a Router of the fixture's fleet reading source, as
// another process would.
func (f *fixture) routerOver(t *testing.T, source RouteSource) *Router {
	t.Helper()
	r, err := NewRouter(RouterConfig{Source: source, Redis: f.rdb, Fleet: f.fleet, Logger: TestEnv.DiscardLogger()})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Router.Start: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// rejectedCount reads tenantfleet_route_cache_rejected_total{reason} of r.
func rejectedCount(t *testing.T, r *Router, reason string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s series in %v", reason, families)
	return 0
}

// setHash replaces the Redis route hash of id with h, as an attacker with
// write access to Redis would.
func (f *fixture) setHash(t *testing.T, id string, h map[string]string) {
	t.Helper()
	ctx := context.Background()
	key := RouteKey(f.fleet, id)
	if err := f.rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.HSet(ctx, key, h).Err(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) hash(t *testing.T, id string) map[string]string {
	t.Helper()
	h, err := f.rdb.HGetAll(context.Background(), RouteKey(f.fleet, id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signedHash is route as routeMAC would write it under key, expiring at
// expires.
func signedHash(fleet string, key []byte, route Route, expires time.Time) map[string]string {
	kv := routeMAC{fleet: fleet, key: key}.fields(route, expires)
	h := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		h[kv[i].(string)] = kv[i+1].(string)
	}
	return h
}

// with returns a copy of h with the given fields set ("" deletes one).
func with(h map[string]string, kv ...string) map[string]string {
	out := maps.Clone(h)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// TestSignedRedisRouteIsUsed: a route another process wrote to Redis is
// served without reading Postgres (the cache still does its job), and the
// hash it wrote carries a MAC and an expiry.
func TestSignedRedisRouteIsUsed(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "signed")
	want, err := f.router.Resolve(ctx, "signed")
	if err != nil {
		t.Fatal(err)
	}
	if h := f.hash(t, "signed"); len(h["mac"]) != 64 || h["expires"] == "" {
		t.Fatalf("got hash %v, want a hex MAC and an expiry", h)
	}
	src := &countingSource{RouteSource: f.store}
	other := f.routerOver(t, src)
	got, err := other.Resolve(ctx, "signed")
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if n := src.routes.Load(); n != 0 {
		t.Fatalf("read the catalog %d times, want 0 (a Redis hit)", n)
	}
}

// TestPoisonedRedisRouteNeverUsed writes what an attacker with write access
// to Redis (but not to the control plane) could write in place of a
// tenant's route hash. Each time a fresh Router (another process) must
// serve the catalog's route, count the rejection under its reason, and
// overwrite the hash with a route that verifies.
func TestPoisonedRedisRouteNeverUsed(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "victim")
	f.addTenant(t, "neighbour")
	want, err := f.store.Route(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.router.Resolve(ctx, "neighbour"); err != nil {
		t.Fatal(err)
	}
	neighbourHash := f.hash(t, "neighbour")
	key, err := f.store.RouteKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	good := signedHash(f.fleet, key, want, future)
	other, _ := NamesFor(f.fleet, "neighbour")
	wrongKey := []byte("an attacker's key, 32 bytes long!")

	tests := []struct {
		name   string
		hash   map[string]string
		reason string
	}{
		{"neighbour's role and schema, MAC kept", with(good, "role", other.Role, "schema", other.Schema), rejectNames},
		{"neighbour's role and schema, unsigned", with(good, "role", other.Role, "schema", other.Schema, "mac", ""), rejectNames},
		{"neighbour's role and schema, signed with the fleet key", signedHash(f.fleet, key,
			func() Route { r := want; r.Role, r.Schema = other.Role, other.Schema; return r }(), future), rejectNames},
		{"neighbour's whole signed hash", neighbourHash, rejectTenant},
		{"foreign host and port, MAC kept", with(good, "host", "203.0.113.9", "port", "6543"), rejectMAC},
		{"foreign host, unsigned", with(good, "host", "203.0.113.9", "mac", ""), rejectUnsigned},
		{"foreign host signed with another key", signedHash(f.fleet, wrongKey,
			func() Route { r := want; r.Host = "203.0.113.9"; return r }(), future), rejectMAC},
		{"foreign database, MAC kept", with(good, "database", "postgres"), rejectMAC},
		{"another instance, MAC kept", with(good, "instance", "i-elsewhere"), rejectMAC},
		{"dedicated tier, MAC kept", with(good, "tier", string(Dedicated)), rejectMAC},
		{"strict isolation, MAC kept", with(good, "isolation", string(Strict)), rejectMAC},
		{"garbage isolation", with(good, "isolation", "none"), rejectMalformed},
		{"signed for another fleet", signedHash("zz"+f.fleet[:min(len(f.fleet), 10)], key, want, future), rejectMAC},
		{"corrupted MAC", with(good, "mac", flipHex(good["mac"])), rejectMAC},
		{"MAC not hex", with(good, "mac", "not-hex"), rejectMAC},
		{"huge version, MAC kept", with(good, "version", "9000000000000000000"), rejectMAC},
		{"later expiry, MAC kept", with(good, "expires", strconv.FormatInt(future.Add(time.Hour).UnixMilli(), 10)), rejectMAC},
		{"expired signature (a replay)", signedHash(f.fleet, key, want, time.Now().Add(-time.Second)), rejectExpired},
		{"garbage port", with(good, "port", "5432; host=evil"), rejectMalformed},
		{"garbage version", with(good, "version", "NaN"), rejectMalformed},
		{"garbage tier", with(good, "tier", "gold"), rejectMalformed},
		{"no expiry", with(good, "expires", ""), rejectMalformed},
		{"unrelated fields", map[string]string{"hello": "world"}, rejectMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.setHash(t, "victim", tt.hash)
			src := &countingSource{RouteSource: f.store}
			r := f.routerOver(t, src)
			got, err := r.Resolve(ctx, "victim")
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want the catalog's %+v", got, err, want)
			}
			if n := src.routes.Load(); n != 1 {
				t.Errorf("read the catalog %d times, want 1", n)
			}
			if n := rejectedCount(t, r, tt.reason); n != 1 {
				t.Errorf("rejected{reason=%s}: got %g, want 1", tt.reason, n)
			}
			// The hash was overwritten with the catalog's route, signed.
			repaired, reason := routeMAC{fleet: f.fleet, key: key}.check(f.hash(t, "victim"), "victim", time.Now())
			if reason != "" || repaired != want {
				t.Errorf("after the fallback Redis holds %+v (rejected: %q), want %+v", repaired, reason, want)
			}
		})
	}
}

// TestWrongTypeRedisKeyIsReplaced: a key of another type where the route
// hash belongs fails the read; the route comes from the catalog and the key
// is replaced by a signed hash.
func TestWrongTypeRedisKeyIsReplaced(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "typed")
	want, err := f.store.Route(ctx, "typed")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.Set(ctx, RouteKey(f.fleet, "typed"), "host=evil", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := f.routerOver(t, f.store).Resolve(ctx, "typed")
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	key, _ := f.store.RouteKey(ctx)
	if repaired, reason := (routeMAC{fleet: f.fleet, key: key}).check(f.hash(t, "typed"), "typed", time.Now()); reason != "" || repaired != want {
		t.Fatalf("after the read Redis holds %+v (rejected: %q), want %+v", repaired, reason, want)
	}
}

// TestForgedActiveStatusNotUsed: a tenant being offboarded cannot be made
// routable again by rewriting its status in Redis.
func TestForgedActiveStatusNotUsed(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "leaving")
	if _, err := f.store.SetTenantStatus(ctx, "leaving", TenantOffboarding, "contract ended"); err != nil {
		t.Fatal(err)
	}
	if err := f.router.Publish(ctx, "leaving"); err != nil {
		t.Fatal(err)
	}
	f.setHash(t, "leaving", with(f.hash(t, "leaving"), "status", string(TenantActive)))
	r := f.routerOver(t, f.store)
	if _, err := r.Resolve(ctx, "leaving"); !errors.Is(err, ErrTenantNotActive) {
		t.Fatalf("got %v, want ErrTenantNotActive", err)
	}
	if n := rejectedCount(t, r, rejectMAC); n != 1 {
		t.Errorf("rejected{reason=mac}: got %g, want 1", n)
	}
}

// TestPoisonedRouteAfterInvalidation takes the pub/sub path: the tenant's
// route is cached in the running Router; an attacker rewrites the hash
// with the neighbour's role and schema and publishes an invalidation, so
// the Router reads Redis again. Every query must still see the victim's
// own row, never the neighbour's.
func TestPoisonedRouteAfterInvalidation(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "victim")
	f.addTenant(t, "neighbour")
	read := func() string {
		t.Helper()
		var v string
		if err := f.pools.QueryRow(ctx, "victim", "SELECT v FROM items WHERE id = 1").Scan(&v); err != nil {
			t.Fatalf("query as victim: %v", err)
		}
		return v
	}
	if got := read(); got != "victim" {
		t.Fatalf("got %q, want victim", got)
	}
	other, _ := NamesFor(f.fleet, "neighbour")
	f.setHash(t, "victim", with(f.hash(t, "victim"), "role", other.Role, "schema", other.Schema))
	// The attacker uses its own connection, as another process would.
	opts, err := redis.ParseURL(f.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	attacker := redis.NewClient(opts)
	t.Cleanup(func() { _ = attacker.Close() })
	if err := attacker.Publish(ctx, f.fleet+":routes", "victim").Err(); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the Router re-reading the poisoned hash", func() bool {
		if got := read(); got != "victim" {
			t.Fatalf("query as victim read %q: the poisoned route was used", got)
		}
		return rejectedCount(t, f.router, rejectNames) == 1
	})
	if got := read(); got != "victim" {
		t.Fatalf("got %q, want victim", got)
	}
}

// flipHex changes the first hex digit of s.
func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

// keylessSource is the real catalog with a route key that cannot be used.
type keylessSource struct {
	RouteSource
	key []byte
	err error
}

func (k keylessSource) RouteKey(context.Context) ([]byte, error) { return k.key, k.err }

// TestNoRouteKeyIgnoresRedis: a Router that cannot read a usable route key
// serves the catalog and never a Redis hash; its Publish invalidates
// instead of writing an unsigned route.
func TestNoRouteKeyIgnoresRedis(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "keyless")
	want, err := f.store.Route(ctx, "keyless")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.router.Resolve(ctx, "keyless"); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]keylessSource{
		"key unreadable": {RouteSource: f.store, err: errors.New("no route key")},
		"key too short":  {RouteSource: f.store, key: []byte("short")},
	} {
		t.Run(name, func(t *testing.T) {
			f.setHash(t, "keyless", with(f.hash(t, "keyless"), "host", "203.0.113.9"))
			counted := &countingSource{RouteSource: src}
			r := f.routerOver(t, counted)
			got, err := r.Resolve(ctx, "keyless")
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want the catalog's %+v", got, err, want)
			}
			if n := counted.routes.Load(); n != 1 {
				t.Errorf("read the catalog %d times, want 1", n)
			}
			if err := r.Publish(ctx, "keyless"); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if h := f.hash(t, "keyless"); len(h) != 0 {
				t.Errorf("after Publish without a key Redis holds %v, want the hash invalidated", h)
			}
			if _, err := f.router.Resolve(ctx, "keyless"); err != nil { // rewrites a signed hash
				t.Fatal(err)
			}
		})
	}
}

// TestRouteKeyRotation: after the key is rotated in the control plane, a
// Router still holding the old key reads it again when a hash signed with
// the new one fails, and serves that hash from Redis.
func TestRouteKeyRotation(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "rotated")
	src := &countingSource{RouteSource: f.store}
	old := f.routerOver(t, src)
	if _, err := old.Resolve(ctx, "rotated"); err != nil {
		t.Fatal(err)
	}
	// Pretend the old key was read long ago, so a failure may re-read it.
	ks := *old.key.Load()
	ks.loaded = time.Now().Add(-time.Hour)
	old.key.Store(&ks)
	if _, err := f.cp.Exec(ctx, `UPDATE route_key SET key = sha256(gen_random_uuid()::text::bytea), rotated_at = now()`); err != nil {
		t.Fatal(err)
	}
	fresh := f.routerOver(t, f.store)
	if err := fresh.Publish(ctx, "rotated"); err != nil { // signs with the new key
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "the old router dropping its entry", func() bool {
		old.mu.RLock()
		defer old.mu.RUnlock()
		_, cached := old.entries["rotated"]
		return !cached
	})
	before := src.routes.Load()
	if _, err := old.Resolve(ctx, "rotated"); err != nil {
		t.Fatal(err)
	}
	if n := src.routes.Load() - before; n != 0 {
		t.Errorf("read the catalog %d times after the rotation, want 0 (the new hash verified)", n)
	}
	if n := rejectedCount(t, old, rejectMAC); n != 0 {
		t.Errorf("rejected{reason=mac}: got %g, want 0", n)
	}
}
