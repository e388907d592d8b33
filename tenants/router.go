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

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// RouteSource reads a tenant's route from the source of truth. *Catalog is
// one.
type RouteSource interface {
	Route(ctx context.Context, id string) (Route, error)
}

var _ RouteSource = (*Catalog)(nil)

// Resolver answers where a tenant's data is. *Router is one.
type Resolver interface {
	Resolve(ctx context.Context, id string) (Route, error)
}

var _ Resolver = (*Router)(nil)

// RouterConfig configures a Router.
type RouterConfig struct {
	// Source is the source of truth, usually a *Catalog. Required.
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
	// Logger receives Redis failures (routing falls back to Postgres).
	// Default: discard.
	Logger *slog.Logger
}

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
type Router struct {
	cfg     RouterConfig
	channel string

	mu      sync.RWMutex
	entries map[string]routeEntry
	// epoch grows with every invalidation, so a fetch that raced with one
	// does not store what it read.
	epoch  atomic.Uint64
	flight singleflight.Group

	startMu sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
}

type routeEntry struct {
	route   Route
	expires int64 // unix nanoseconds
}

// NewRouter returns a Router; call Start to hear of changes made by other
// processes.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Router{cfg: cfg, channel: cfg.Fleet + ":routes", entries: map[string]routeEntry{}}, nil
}

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
	key := RouteKey(r.cfg.Fleet, id)
	h, err := r.cfg.Redis.HGetAll(ctx, key).Result()
	if err != nil {
		r.cfg.Logger.WarnContext(ctx, "routing cache read failed, reading the catalog",
			slog.String("tenant", id), slog.Any("error", err))
	}
	route, ok := routeFromHash(h)
	if !ok {
		route, err = r.cfg.Source.Route(ctx, id)
		if err != nil {
			return Route{}, err
		}
		r.storeRedis(ctx, route)
	}
	r.mu.Lock()
	if r.epoch.Load() == epoch {
		r.entries[id] = routeEntry{route: route, expires: time.Now().Add(r.cfg.CacheTTL).UnixNano()}
	}
	r.mu.Unlock()
	return route, nil
}

// storeRouteScript writes a route hash unless Redis already holds a newer
// version. KEYS[1] the hash; ARGV[1] version, ARGV[2] TTL in ms, then the
// field/value pairs.
var storeRouteScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'version')
if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

func (r *Router) storeRedis(ctx context.Context, route Route) {
	args := append([]any{strconv.FormatInt(route.Version, 10), r.cfg.RedisTTL.Milliseconds()}, route.fields()...)
	key := RouteKey(r.cfg.Fleet, route.TenantID)
	if err := storeRouteScript.Run(ctx, r.cfg.Redis, []string{key}, args...).Err(); err != nil {
		r.cfg.Logger.WarnContext(ctx, "routing cache write failed",
			slog.String("tenant", route.TenantID), slog.Any("error", err))
	}
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
	r.forget(id)
	if err := storeRouteScript.Run(ctx, r.cfg.Redis, []string{RouteKey(r.cfg.Fleet, id)},
		append([]any{strconv.FormatInt(route.Version, 10), r.cfg.RedisTTL.Milliseconds()}, route.fields()...)...).Err(); err != nil {
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
