package tenants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// ErrClosed means the Pools were stopped.
var ErrClosed = errors.New("tenants: pools closed")

// Credentials returns the user and password the connections of pooled
// tenants log in with. It is called when a pool is created; the password is
// never logged.
type Credentials func(ctx context.Context, r Route) (user, password string, err error)

// PoolsConfig configures Pools. The application builds it: the fleet
// binary has no settings for application pools (yet).
type PoolsConfig struct {
	// Resolver finds tenants' routes, usually a started *Router. Required.
	Resolver Resolver
	// Fleet is the fleet name: it names the application role and prefixes
	// Redis keys. Required.
	Fleet string
	// PoolSize is the connection budget of each shared-instance pool: at
	// most this many connections are open at once, whether they serve
	// pooled tenants (as the application role) or strict tenants (each as
	// its own role). Default 20.
	PoolSize int
	// DedicatedPoolSize is the number of connections of each dedicated
	// tenant's pool. Default PoolSize.
	DedicatedPoolSize int
	// AcquireTimeout is how long a caller waits for a connection before
	// ErrPoolExhausted. Default 5s.
	AcquireTimeout time.Duration
	// TenantInflightCap is the most connections one tenant may hold on a
	// shared pool. Default 0: a quarter of PoolSize, at least 1. Dedicated
	// pools have no per-tenant cap.
	TenantInflightCap int
	// InteractiveReserve is how many connections of a pool batch work may
	// not use, so interactive work never queues behind batch jobs. Default
	// 0: 1 for pools of 4 connections or more, else none; -1 means none.
	InteractiveReserve int
	// StrictIdleCap is the most idle connections one strict tenant keeps
	// open; more are closed when returned. Default 2.
	StrictIdleCap int
	// IdleTimeout closes a connection, and a pool, nobody used for this
	// long. Default 5m.
	IdleTimeout time.Duration
	// Credentials returns the login of a pool. Default: the application
	// role (AppRoleName(Fleet)) with no password, for trust or
	// certificate authentication.
	Credentials Credentials
	// Logins gives the login of strict tenants' connections (their own
	// role and its password; see LoginResolver). Default nil: work of a
	// strict tenant fails with ErrNoStrictLogin, it never runs as the
	// application role.
	Logins LoginResolver
	// ConnParams are extra connection-string parameters appended to each
	// pool's URL, for example "sslmode=require". Default empty.
	ConnParams string
	// ConfigureConn, when set, may adjust the connection configuration of
	// each pool when it is created (TLS, tracer, statement cache mode). The
	// user and password of strict connections are set after it.
	ConfigureConn func(r Route, c *pgx.ConnConfig)
	// AfterConnect, when set, runs on every new connection before its first
	// use (after the strict login's own check); an error closes the
	// connection and fails the work that asked for it.
	AfterConnect func(ctx context.Context, r Route, conn *pgx.Conn) error
	// Redis, when set, carries drain messages and receives the pool
	// statistics this process publishes. Default nil: neither.
	Redis redis.UniversalClient
	// StatsInterval is how often statistics are published to Redis.
	// Default 5s.
	StatsInterval time.Duration
	// ProcessID names this process in published statistics. Default
	// hostname-pid.
	ProcessID string
	// Logger receives lifecycle events and failures. Default: discard.
	Logger *slog.Logger
	// Replicas, when set, lists the read replicas of instances: read-only
	// work (WithTenantReadOnly, QueryRowReadOnly) then runs on a usable
	// replica of the tenant's instance, scoped to the tenant exactly as on
	// the primary, and falls back to the primary when there is none.
	// *controlplane.Store is one. Default nil: all work on the primary.
	Replicas ReplicaSource
	// MaxReplicaLag is the replay lag past which a replica serves no
	// read-only work. Default 5s.
	MaxReplicaLag time.Duration
	// ReplicaCheckInterval is how often a replica's lag is read (on one of
	// its own connections, before the work). Default 1s.
	ReplicaCheckInterval time.Duration
	// ReplicaRetry is how long a replica that lagged, was not streaming
	// or could not be reached is skipped. Default 10s.
	ReplicaRetry time.Duration
	// ReplicaListTTL is how long an instance's replica list is reused
	// before Replicas is asked again. Default 10s.
	ReplicaListTTL time.Duration
}

func (c *PoolsConfig) validate() error {
	if c.Resolver == nil {
		return errors.New("tenants: pools config needs a Resolver")
	}
	if err := ValidateFleet(c.Fleet); err != nil {
		return err
	}
	c.PoolSize = cmp.Or(c.PoolSize, 20)
	c.DedicatedPoolSize = cmp.Or(c.DedicatedPoolSize, c.PoolSize)
	c.AcquireTimeout = cmp.Or(c.AcquireTimeout, 5*time.Second)
	c.TenantInflightCap = cmp.Or(c.TenantInflightCap, max(1, c.PoolSize/4))
	switch {
	case c.InteractiveReserve == 0 && c.PoolSize >= 4:
		c.InteractiveReserve = 1
	case c.InteractiveReserve < 0:
		c.InteractiveReserve = 0
	}
	c.StrictIdleCap = cmp.Or(c.StrictIdleCap, 2)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, 5*time.Minute)
	c.StatsInterval = cmp.Or(c.StatsInterval, 5*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.MaxReplicaLag = cmp.Or(c.MaxReplicaLag, 5*time.Second)
	c.ReplicaCheckInterval = cmp.Or(c.ReplicaCheckInterval, time.Second)
	c.ReplicaRetry = cmp.Or(c.ReplicaRetry, 10*time.Second)
	c.ReplicaListTTL = cmp.Or(c.ReplicaListTTL, 10*time.Second)
	if c.Credentials == nil {
		app := AppRoleName(c.Fleet)
		c.Credentials = func(context.Context, Route) (string, string, error) { return app, "", nil }
	}
	switch {
	case c.StrictIdleCap < 1:
		return fmt.Errorf("tenants: StrictIdleCap must be at least 1, got %d", c.StrictIdleCap)
	case c.PoolSize < 1 || c.DedicatedPoolSize < 1:
		return fmt.Errorf("tenants: pool sizes must be at least 1, got %d and %d", c.PoolSize, c.DedicatedPoolSize)
	case c.AcquireTimeout < 0 || c.IdleTimeout < 0 || c.StatsInterval < 0 ||
		c.MaxReplicaLag < 0 || c.ReplicaCheckInterval < 0 || c.ReplicaRetry < 0 || c.ReplicaListTTL < 0:
		return errors.New("tenants: pool timeouts must be positive")
	case c.TenantInflightCap < 1 || c.TenantInflightCap > c.PoolSize:
		return fmt.Errorf("tenants: TenantInflightCap must be between 1 and the pool size %d, got %d", c.PoolSize, c.TenantInflightCap)
	case c.InteractiveReserve >= c.PoolSize && c.PoolSize > 0:
		return fmt.Errorf("tenants: InteractiveReserve %d leaves batch work no connection of %d", c.InteractiveReserve, c.PoolSize)
	}
	if c.ProcessID == "" {
		c.ProcessID = defaultProcessID()
	}
	return nil
}

// Pools holds one pool of connections per shared instance and one per
// dedicated tenant, each created on first use, behind a fair admission
// gate, and closed after IdleTimeout unused. A pool's connections log in as
// the application role for pooled tenants and as the tenant's own role for
// strict tenants, all within the pool's one budget (see connBudget). Every
// piece of tenant work runs in one tenant-scoped transaction; see
// WithTenant. It is safe for concurrent use.
type Pools struct {
	cfg PoolsConfig

	mu     sync.RWMutex
	pools  map[string]*tenantPool
	closed bool

	startMu sync.Mutex
	stop    context.CancelFunc
	wg      sync.WaitGroup

	replicas replicaRouting
}

// tenantPool is one pool's connections and its admission gate.
type tenantPool struct {
	key        string
	instanceID string
	host       string
	port       int
	database   string
	// base is the connection configuration, as the application role.
	base     *pgx.ConnConfig
	conns    *connBudget
	gate     *admission
	lastUsed atomic.Int64 // unix nanoseconds
	retired  atomic.Bool
}

// NewPools returns Pools; call Start to close idle pools, publish
// statistics and obey drain messages, and Stop to close every pool.
func NewPools(cfg PoolsConfig) (*Pools, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Pools{cfg: cfg, pools: map[string]*tenantPool{},
		replicas: replicaRouting{lists: map[string]replicaList{}, states: map[string]*replicaState{}}}, nil
}

// poolFor returns the pool serving route, creating it on first use and
// replacing it when the route moved to another server or database.
func (p *Pools) poolFor(ctx context.Context, r Route) (*tenantPool, error) {
	key := r.PoolKey()
	p.mu.RLock()
	tp, ok := p.pools[key]
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok && tp.matches(r) {
		return tp, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if tp, ok := p.pools[key]; ok {
		if tp.matches(r) {
			return tp, nil
		}
		p.retireLocked(tp, "route moved")
	}
	tp, err := p.newPool(ctx, r)
	if err != nil {
		return nil, err
	}
	p.pools[key] = tp
	return tp, nil
}

func (tp *tenantPool) matches(r Route) bool {
	return tp.host == r.Host && tp.port == r.Port && tp.database == r.Database
}

func (p *Pools) newPool(ctx context.Context, r Route) (*tenantPool, error) {
	if r.Host == "" || r.Database == "" || r.Port == 0 {
		return nil, fmt.Errorf("tenants: tenant %s is not placed on an instance", r.TenantID)
	}
	user, password, err := p.cfg.Credentials(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("tenants: credentials for pool %s: %w", r.PoolKey(), err)
	}
	u := url.URL{
		Scheme: "postgres", Host: net.JoinHostPort(r.Host, strconv.Itoa(r.Port)),
		Path: "/" + r.Database, RawQuery: p.cfg.ConnParams,
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	size, tenantCap := p.cfg.PoolSize, p.cfg.TenantInflightCap
	if r.Tier == Dedicated {
		size, tenantCap = p.cfg.DedicatedPoolSize, p.cfg.DedicatedPoolSize
	}
	base, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("tenants: pool %s config: %w", r.PoolKey(), errors.New("unparseable connection settings"))
	}
	if p.cfg.ConfigureConn != nil {
		p.cfg.ConfigureConn(r, base)
	}
	if r.ReplicaID != "" {
		// Belt and braces: a standby refuses writes anyway.
		base.RuntimeParams["default_transaction_read_only"] = "on"
	}
	reserve := p.cfg.InteractiveReserve
	if reserve >= size {
		reserve = 0
	}
	conns := newConnBudget(connBudgetConfig{
		pool: r.PoolKey(), size: size, idleCap: p.cfg.StrictIdleCap, idleTimeout: p.cfg.IdleTimeout,
	})
	tp := &tenantPool{
		key: r.PoolKey(), instanceID: r.InstanceID, host: r.Host, port: r.Port, database: r.Database,
		base: base, conns: conns,
		gate: newAdmission(admissionConfig{
			pool: r.PoolKey(), size: size, reserve: reserve, tenantCap: tenantCap, timeout: p.cfg.AcquireTimeout,
			warm: conns.warm,
		}),
	}
	tp.lastUsed.Store(time.Now().UnixNano())
	p.cfg.Logger.InfoContext(ctx, "tenant pool created", slog.String("pool", tp.key),
		slog.String("host", r.Host), slog.String("database", r.Database), slog.Int("size", size))
	return tp, nil
}

// retireLocked removes tp from the map and closes it once its borrowed
// connections are back. Called with p.mu held.
func (p *Pools) retireLocked(tp *tenantPool, why string) {
	if p.pools[tp.key] == tp {
		delete(p.pools, tp.key)
	}
	if tp.retired.Swap(true) {
		return
	}
	p.cfg.Logger.Info("tenant pool closed", slog.String("pool", tp.key), slog.String("why", why))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tp.conns.close() // waits for borrowed connections
	}()
}

// acquire resolves the tenant, passes the admission gate of its pool and
// borrows a connection; readOnly work may be served by a replica (see
// PoolsConfig.Replicas). The caller must call release.
func (p *Pools) acquire(ctx context.Context, tenantID string, readOnly bool) (*lease, error) {
	route, err := p.cfg.Resolver.Resolve(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !safeName(route.Schema) || !safeName(route.Role) {
		return nil, fmt.Errorf("tenants: tenant %s has no usable schema and role in its route", tenantID)
	}
	if route.Isolation != Strict && route.Isolation != Pooled && route.Isolation != "" {
		return nil, fmt.Errorf("%w: tenant %s has isolation %q", ErrInvalidIsolation, tenantID, route.Isolation)
	}
	// Only Pools choose a replica; a resolver's route names the primary.
	route.ReplicaID = ""
	if readOnly {
		return p.acquireReadOnly(ctx, route)
	}
	return p.acquireRoute(ctx, route)
}

// acquireRoute passes the admission gate of route's pool and borrows a
// connection of it.
func (p *Pools) acquireRoute(ctx context.Context, route Route) (*lease, error) {
	tenantID := route.TenantID
	strict := route.Isolation == Strict
	prio := PriorityFrom(ctx)
	for range 3 {
		tp, err := p.poolFor(ctx, route)
		if err != nil {
			return nil, err
		}
		if err := tp.gate.acquire(ctx, tenantID, loginOf(route, strict), prio); err != nil {
			return nil, err
		}
		if tp.retired.Load() { // closed while we queued: take the new one.
			tp.gate.release(tenantID, prio, 0)
			continue
		}
		start := time.Now()
		bc, err := p.connect(ctx, tp, route, strict)
		if err != nil {
			tp.gate.release(tenantID, prio, 0)
			return nil, err
		}
		return &lease{tp: tp, bc: bc, conn: bc.conn, route: route, strict: strict, priority: prio, start: start}, nil
	}
	return nil, fmt.Errorf("tenants: pool of %s keeps closing", tenantID)
}

// loginOf is the login key of the route's connections.
func loginOf(r Route, strict bool) string {
	if strict {
		return r.Role
	}
	return appLogin
}

// connect borrows a connection of tp for route: one of the application
// role for a pooled tenant, one logged in as the tenant's own role for a
// strict one.
func (p *Pools) connect(ctx context.Context, tp *tenantPool, r Route, strict bool) (*bconn, error) {
	dial := func(ctx context.Context) (*pgx.Conn, error) {
		conn, err := pgx.ConnectConfig(ctx, tp.base)
		if err != nil {
			return nil, fmt.Errorf("tenants: connect pool %s: %w", tp.key, err)
		}
		return conn, nil
	}
	if strict {
		dial = func(ctx context.Context) (*pgx.Conn, error) { return p.dialStrict(ctx, tp, r) }
	}
	return tp.conns.get(ctx, loginOf(r, strict), func(ctx context.Context) (*pgx.Conn, error) {
		conn, err := dial(ctx)
		if err != nil || p.cfg.AfterConnect == nil {
			return conn, err
		}
		if err := p.cfg.AfterConnect(ctx, r, conn); err != nil {
			closeConn(conn)
			return nil, err
		}
		return conn, nil
	})
}

// Reset closes every idle connection of the pools serving instanceID (its
// shared pool and the pools of its dedicated tenants) and makes borrowed
// ones close when returned. Drain does this in every process.
func (p *Pools) Reset(instanceID string) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, tp := range p.pools {
		if tp.instanceID == instanceID {
			tp.conns.reset()
			n++
		}
	}
	if n > 0 {
		p.cfg.Logger.Info("tenant pools reset", slog.String("instance", instanceID), slog.Int("pools", n))
	}
	return n
}

// closeIdle closes connections and pools unused for IdleTimeout.
func (p *Pools) closeIdle(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tp := range p.pools {
		if now.UnixNano()-tp.lastUsed.Load() >= int64(p.cfg.IdleTimeout) && tp.gate.idle() {
			p.retireLocked(tp, "idle")
			continue
		}
		tp.conns.closeIdle(now)
	}
}

// Start runs the background work: closing idle pools, and, with Redis,
// obeying drain messages and publishing statistics. It returns once the
// drain subscription is confirmed. Starting twice is an error.
func (p *Pools) Start(ctx context.Context) error {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.stop != nil {
		return errors.New("tenants: pools already started")
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	halt := cancel
	if p.cfg.Redis != nil {
		ps := p.cfg.Redis.Subscribe(ctx, DrainChannel(p.cfg.Fleet))
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			cancel()
			return fmt.Errorf("tenants: subscribe to drains: %w", err)
		}
		// Receive ignores its context while blocked: closing ps unblocks it.
		halt = sync.OnceFunc(func() { cancel(); _ = ps.Close() })
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			listen(loopCtx, ps, p.cfg.Logger, "drains", func(instance string) {
				if instance != "*" && instance != "" {
					p.Reset(instance)
				}
			})
		}()
		go func() {
			defer p.wg.Done()
			p.publishLoop(loopCtx)
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(max(p.cfg.IdleTimeout/4, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case now := <-tick.C:
				p.closeIdle(now)
			}
		}
	}()
	stopOnDone := context.AfterFunc(ctx, halt)
	p.stop = func() { stopOnDone(); halt() }
	return nil
}

// Stop ends the background work, closes every pool (waiting for borrowed
// connections to come back) and refuses further work with ErrClosed. It is
// idempotent.
func (p *Pools) Stop() {
	p.startMu.Lock()
	if p.stop != nil {
		p.stop()
	}
	p.startMu.Unlock()
	p.mu.Lock()
	p.closed = true
	for _, tp := range p.pools {
		p.retireLocked(tp, "stopped")
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// DrainChannel is the Redis channel of drain messages: the payload is an
// instance id.
func DrainChannel(fleet string) string { return fleet + ":drain" }

// Drain asks every process of the fleet (this one included, when started
// with Redis) to reset its pools of instanceID. It resets this process's
// pools right away too.
func (p *Pools) Drain(ctx context.Context, instanceID string) error {
	p.Reset(instanceID)
	if p.cfg.Redis == nil {
		return nil
	}
	if err := p.cfg.Redis.Publish(ctx, DrainChannel(p.cfg.Fleet), instanceID).Err(); err != nil {
		return fmt.Errorf("tenants: publish drain of %s: %w", instanceID, err)
	}
	return nil
}

// safeName reports whether s is a non-empty name of lowercase letters,
// digits and '_' at most 63 bytes long, as NamesFor derives: such a name
// needs no escaping inside a SQL literal or identifier.
func safeName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
