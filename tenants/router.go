package tenants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// RouteSource reads tenants' routes and the fleet's route key from the
// source of truth. *controlplane.Store is the fleet's.
type RouteSource interface {
	// Route returns the tenant's route, whatever its status, or an error
	// matching ErrTenantNotFound.
	Route(ctx context.Context, id string) (Route, error)
	// RouteKey returns the secret key, at least MinRouteKeyLen bytes, that
	// signs the routes cached in Redis. Every process of a fleet must get
	// the same key.
	RouteKey(ctx context.Context) ([]byte, error)
}

// Resolver answers where a tenant's data is. *Router is one.
type Resolver interface {
	Resolve(ctx context.Context, id string) (Route, error)
}

var _ Resolver = (*Router)(nil)

// RouterConfig configures a Router.
type RouterConfig struct {
	// Source is the source of truth, usually a *controlplane.Store.
	// Required.
	Source RouteSource
	// Redis holds the shared routing cache and carries change messages.
	// Required.
	Redis redis.UniversalClient
	// Fleet prefixes the Redis keys and channel ("<fleet>:route:<id>",
	// "<fleet>:routes"). Required.
	Fleet string
	// CacheTTL bounds how long a process trusts its in-process entry without
	// hearing of a change, in case a message is lost. Default 5m.
	CacheTTL time.Duration
	// RedisTTL is the expiry of a route hash in Redis. Default 24h.
	RedisTTL time.Duration
	// Logger receives Redis failures and rejected Redis routes (routing
	// falls back to Postgres). Default: discard.
	Logger *slog.Logger
}

// routeKeyRefresh is the shortest time between two reads of the route key:
// after a MAC failed to verify (the key may have been rotated) or the key
// could not be read.
const routeKeyRefresh = 10 * time.Second

func (c *RouterConfig) validate() error {
	if c.Source == nil || c.Redis == nil {
		return errors.New("tenants: router config needs Source and Redis")
	}
	c.CacheTTL = cmp.Or(c.CacheTTL, 5*time.Minute)
	c.RedisTTL = cmp.Or(c.RedisTTL, 24*time.Hour)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return ValidateFleet(c.Fleet)
}

// Router resolves tenant ids to routes: from an in-process cache, then the
// Redis hash of the tenant, then the source of truth (read-through, which
// refills Redis). Publish and Invalidate announce a change on a Redis
// channel; every started Router drops its entry for the tenant. A wiped
// Redis loses nothing: the next miss reads Postgres again.
//
// Redis is not trusted with where tenant traffic goes: a route hash is
// used only if its role and schema are the ones NamesFor derives from the
// tenant id and its MAC verifies under the fleet's route key
// (RouteSource.RouteKey, held in the control plane, never in Redis), over
// every field, the fleet and an expiry. A hash that fails is never used:
// the Router logs a warning (tenant and reason only), counts it
// (tenantfleet_route_cache_rejected_total{reason}), serves the route of
// the source and overwrites the hash with it. The check runs when Redis is
// read, never on an in-process cache hit.
type Router struct {
	cfg     RouterConfig
	channel string

	mu      sync.RWMutex
	entries map[string]routeEntry
	// epoch grows with every invalidation, so a fetch that raced with one
	// does not store what it read.
	epoch  atomic.Uint64
	flight singleflight.Group

	// key is the route key as last read, with when; keyMu serialises reads.
	keyMu    sync.Mutex
	key      atomic.Pointer[routeKeyState]
	rejected *prometheus.CounterVec

	startMu sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
}

type routeEntry struct {
	route   Route
	expires int64 // unix nanoseconds
}

// routeKeyState is one read of the route key: the MAC it makes, or why it
// could not be read.
type routeKeyState struct {
	mac    routeMAC
	err    error
	loaded time.Time
}

// NewRouter returns a Router; call Start to hear of changes made by other
// processes.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantfleet_route_cache_rejected_total",
		Help: "Route hashes read from Redis that failed their check and were not used, by reason.",
	}, []string{"reason"})
	for _, reason := range rejectReasons {
		rejected.WithLabelValues(reason)
	}
	return &Router{cfg: cfg, channel: cfg.Fleet + ":routes", entries: map[string]routeEntry{}, rejected: rejected}, nil
}

// Collector returns the Router's metrics for the fleet's own registry:
// tenantfleet_route_cache_rejected_total{reason}, with reason malformed,
// tenant (the hash names another tenant), names (role or schema not
// derived from the id), unsigned, mac (does not verify) or expired.
func (r *Router) Collector() prometheus.Collector { return r.rejected }

// RouteKey is the Redis hash holding a tenant's route.
func RouteKey(fleet, id string) string { return fleet + ":route:" + id }

// Resolve returns the route of an active tenant. It fails with an
// *InvalidIDError, ErrTenantNotFound or ErrTenantNotActive (wrapped).
func (r *Router) Resolve(ctx context.Context, id string) (Route, error) {
	r.mu.RLock()
	e, ok := r.entries[id]
	r.mu.RUnlock()
	if ok && time.Now().UnixNano() < e.expires {
		return e.route, e.route.activeErr()
	}
	if err := ValidateID(id); err != nil {
		return Route{}, err
	}
	v, err, _ := r.flight.Do(id, func() (any, error) { return r.fetch(ctx, id) })
	if err != nil {
		return Route{}, err
	}
	route := v.(Route)
	return route, route.activeErr()
}

func (rt Route) activeErr() error {
	if rt.Status != TenantActive {
		return fmt.Errorf("%w: %s is %s", ErrTenantNotActive, rt.TenantID, rt.Status)
	}
	return nil
}

func (r *Router) fetch(ctx context.Context, id string) (Route, error) {
	epoch := r.epoch.Load()
	route, hit, refill := r.readRedis(ctx, id)
	if !hit {
		var err error
		if route, err = r.cfg.Source.Route(ctx, id); err != nil {
			return Route{}, err
		}
		if refill.key != nil {
			if err := r.writeRedis(ctx, refill, route); err != nil {
				r.cfg.Logger.WarnContext(ctx, "routing cache write failed",
					slog.String("tenant", id), slog.Any("error", err))
			}
		}
	}
	r.mu.Lock()
	if r.epoch.Load() == epoch {
		r.entries[id] = routeEntry{route: route, expires: time.Now().Add(r.cfg.CacheTTL).UnixNano()}
	}
	r.mu.Unlock()
	return route, nil
}

// refill says how to write a route read from the source back to Redis.
type refill struct {
	// key signs it; nil means do not write (no route key).
	key *routeKeyState
	// replace: the hash was rejected; overwrite it while it still carries
	// mac (empty for none), whatever version it claims.
	replace bool
	mac     string
}

// readRedis returns the tenant's route from Redis if it passes its check
// (hit), and otherwise how to refill Redis from the source.
func (r *Router) readRedis(ctx context.Context, id string) (Route, bool, refill) {
	ks, err := r.routeKey(ctx, nil)
	if err != nil {
		r.cfg.Logger.WarnContext(ctx, "route key unavailable, not using the routing cache",
			slog.String("tenant", id), slog.Any("error", err))
		return Route{}, false, refill{}
	}
	h, err := r.cfg.Redis.HGetAll(ctx, RouteKey(r.cfg.Fleet, id)).Result()
	if err != nil {
		r.cfg.Logger.WarnContext(ctx, "routing cache read failed, reading the catalog",
			slog.String("tenant", id), slog.Any("error", err))
		return Route{}, false, refill{key: ks}
	}
	if len(h) == 0 {
		return Route{}, false, refill{key: ks}
	}
	now := time.Now()
	route, reason := ks.mac.check(h, id, now)
	if reason == rejectMAC {
		// The key may have been rotated since it was read.
		if fresh, err := r.routeKey(ctx, ks); err == nil && fresh != ks {
			ks = fresh
			route, reason = ks.mac.check(h, id, now)
		}
	}
	if reason != "" {
		r.rejected.WithLabelValues(reason).Inc()
		r.cfg.Logger.WarnContext(ctx, "routing cache entry rejected, reading the catalog",
			slog.String("tenant", id), slog.String("reason", reason))
		return Route{}, false, refill{key: ks, replace: true, mac: h["mac"]}
	}
	return route, true, refill{}
}

// routeKey returns the route key as last read. It reads it again when
// none was read yet, or when stale is the last read and that read is
// older than routeKeyRefresh (a MAC failed under it); a failed read is
// retried after routeKeyRefresh.
func (r *Router) routeKey(ctx context.Context, stale *routeKeyState) (*routeKeyState, error) {
	usable := func(ks *routeKeyState) bool {
		return ks != nil && (ks != stale || time.Since(ks.loaded) < routeKeyRefresh) &&
			(ks.err == nil || time.Since(ks.loaded) < routeKeyRefresh)
	}
	if ks := r.key.Load(); usable(ks) {
		return ks, ks.err
	}
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if ks := r.key.Load(); usable(ks) {
		return ks, ks.err
	}
	ks := &routeKeyState{loaded: time.Now()}
	key, err := r.cfg.Source.RouteKey(ctx)
	switch {
	case err != nil:
		ks.err = fmt.Errorf("tenants: route key: %w", err)
	case len(key) < MinRouteKeyLen:
		ks.err = fmt.Errorf("tenants: route key is %d bytes, want at least %d", len(key), MinRouteKeyLen)
	default:
		ks.mac = routeMAC{fleet: r.cfg.Fleet, key: key}
	}
	if ks.err != nil && ctx.Err() != nil {
		return nil, ks.err // the caller gave up: not the key's fault
	}
	r.key.Store(ks)
	return ks, ks.err
}

// storeRouteScript writes a signed route hash. KEYS[1] the hash; ARGV[1]
// version, ARGV[2] TTL in ms, ARGV[3] mode, ARGV[4] a MAC, then the
// field/value pairs. Mode "newer" writes unless Redis holds this version
// or a newer one; mode "replace" overwrites a rejected hash, only while
// it still carries the rejected MAC ARGV[4] (empty for none), so a route
// another process wrote meanwhile stays. A key of another type is
// replaced.
var storeRouteScript = redis.NewScript(`
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'hash' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
elseif ARGV[3] == 'replace' then
  if (redis.call('HGET', KEYS[1], 'mac') or '') ~= ARGV[4] then return 0 end
else
  local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '')
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

// writeRedis signs route with how.key and writes it as how says.
func (r *Router) writeRedis(ctx context.Context, how refill, route Route) error {
	mode := "newer"
	if how.replace {
		mode = "replace"
	}
	fields := how.key.mac.fields(route, time.Now().Add(r.cfg.RedisTTL))
	args := append([]any{strconv.FormatInt(route.Version, 10), r.cfg.RedisTTL.Milliseconds(), mode, how.mac}, fields...)
	return storeRouteScript.Run(ctx, r.cfg.Redis, []string{RouteKey(r.cfg.Fleet, route.TenantID)}, args...).Err()
}

// Publish announces that the tenant's route changed in the catalog: it
// reads the new route, writes it to Redis (unless Redis holds a newer one)
// and tells every started Router to drop its entry. A tenant missing from
// the catalog is invalidated instead.
func (r *Router) Publish(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	route, err := r.cfg.Source.Route(ctx, id)
	if errors.Is(err, ErrTenantNotFound) {
		return r.Invalidate(ctx, id)
	}
	if err != nil {
		return err
	}
	ks, err := r.routeKey(ctx, nil)
	if err != nil {
		// Unsigned, the route would be rejected: drop it from Redis instead,
		// so every Router reads the catalog.
		r.cfg.Logger.WarnContext(ctx, "route key unavailable, invalidating instead of publishing",
			slog.String("tenant", id), slog.Any("error", err))
		return r.Invalidate(ctx, id)
	}
	r.forget(id)
	if err := r.writeRedis(ctx, refill{key: ks}, route); err != nil {
		return fmt.Errorf("tenants: publish route of %s: %w", id, err)
	}
	return r.announce(ctx, id)
}

// Invalidate deletes the tenant's Redis hash and tells every started Router
// to drop its entry; the next Resolve reads the catalog.
func (r *Router) Invalidate(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	r.forget(id)
	if err := r.cfg.Redis.Del(ctx, RouteKey(r.cfg.Fleet, id)).Err(); err != nil {
		return fmt.Errorf("tenants: invalidate route of %s: %w", id, err)
	}
	return r.announce(ctx, id)
}

func (r *Router) announce(ctx context.Context, id string) error {
	if err := r.cfg.Redis.Publish(ctx, r.channel, id).Err(); err != nil {
		return fmt.Errorf("tenants: announce route change of %s: %w", id, err)
	}
	return nil
}

// forget drops the in-process entry of id; "*" drops them all.
func (r *Router) forget(id string) {
	r.mu.Lock()
	r.epoch.Add(1)
	if id == "*" {
		clear(r.entries)
	} else {
		delete(r.entries, id)
	}
	r.mu.Unlock()
	r.flight.Forget(id)
}

// Start subscribes to route changes and returns once the subscription is
// confirmed, so a change published after Start returns is heard. The
// listener runs until ctx ends or Stop. Starting twice is an error.
func (r *Router) Start(ctx context.Context) error {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.done != nil {
		return errors.New("tenants: router already started")
	}
	ps := r.cfg.Redis.Subscribe(ctx, r.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return fmt.Errorf("tenants: subscribe to %s: %w", r.channel, err)
	}
	// Anything cached before the subscription may have missed a change.
	r.forget("*")
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Receive ignores its context while blocked: closing ps unblocks it.
	halt := sync.OnceFunc(func() { cancel(); _ = ps.Close() })
	stopOnDone := context.AfterFunc(ctx, halt)
	r.stop = func() { stopOnDone(); halt() }
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		listen(loopCtx, ps, r.cfg.Logger, "route changes", r.forget)
	}()
	return nil
}

// Stop ends the listener and waits for it. It is idempotent.
func (r *Router) Stop() {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop = nil
	}
}

// listen hands every message payload of ps to handle until ctx ends. A
// (re)subscription confirmation is handled as "*": messages may have been
// lost while disconnected.
func listen(ctx context.Context, ps *redis.PubSub, logger *slog.Logger, what string, handle func(string)) {
	for ctx.Err() == nil {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			logger.WarnContext(ctx, "pub/sub receive failed", slog.String("of", what), slog.Any("error", err))
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Message:
			handle(strings.TrimSpace(m.Payload))
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				handle("*")
			}
		}
	}
}
