package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// env is one test's fleet: a control plane, a Redis database, one shared
// instance (a scratch database reached through a TCP proxy the test can cut)
// with active tenants, the application's pools over it, the alert engine
// and the health agent.
type env struct {
	fleet    string
	store    *controlplane.Store
	cp       *pgxpool.Pool // the control plane, for fixtures the Store has no method for
	rdb      *redis.Client
	admin    *pgxpool.Pool // direct admin pool on the instance database
	inst     controlplane.Instance
	proxy    *proxy
	engine   *alerts.Engine
	agent    *Agent
	pools    *tenants.Pools
	tenants  []string
	database string
	cluster  *pgtest.Cluster // the private server, with setupOpts.cluster
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type setupOpts struct {
	tenants  int
	poolSize int
	cfg      func(*Config)
	pools    func(*tenants.PoolsConfig)
	// instance adjusts the instance record before it is created (its
	// limits, for capacity).
	instance func(*controlplane.Instance)
	// cluster, when set, puts the instance on a private PostgreSQL server
	// started with these options instead of a scratch database of the
	// shared one, so server-wide figures (connections against
	// max_connections) are the test's own.
	cluster *pgtest.Options
}

func setup(t *testing.T, o setupOpts) *env {
	t.Helper()
	ctx := testContext(t)
	e := &env{fleet: cptest.UniqueName("hl")}
	adminURL := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	if o.cluster != nil {
		// Started first, so it stops after every cleanup that uses it; the
		// fleet's roles go with it.
		e.cluster = pgtest.Start(t, *o.cluster)
		adminURL = e.cluster.URL("postgres")
	} else {
		cptest.DropFleetRolesAtCleanup(t, adminURL, e.fleet)
	}
	_, e.cp = cptest.Database(t)
	e.store = controlplane.NewStore(e.cp)
	_, e.rdb = cptest.RedisDB(t)
	sess := sessionstest.Local(t, adminURL)
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = startProxy(t, u.Host)
	if e.cluster == nil {
		e.database = cptest.ScratchDatabase(t)
	} else {
		e.database = "tenants"
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+e.database)
		_ = conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(e.proxy.addr)
	p, _ := strconv.Atoi(port)
	rec := controlplane.Instance{Instance: provider.Instance{ID: "inst-a",
		Status: provider.StatusReady, Host: "127.0.0.1", Port: p, Database: e.database}, Provider: "local", Tier: tenants.Shared}
	if o.instance != nil {
		o.instance(&rec)
	}
	e.inst, err = e.store.CreateInstance(ctx, rec)
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	direct, err := pgxpool.New(ctx, config.WithDatabase(adminURL, e.database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	e.admin = direct
	if err := tenants.PrepareDatabase(ctx, e.admin, e.fleet, e.database); err != nil {
		t.Fatalf("PrepareDatabase: %v", err)
	}
	for i := range o.tenants {
		id := fmt.Sprintf("tenant-%03d", i)
		e.addTenant(t, id)
	}
	if e.engine, err = alerts.New(alerts.Config{Store: e.store, Fleet: e.fleet, Logger: cptest.DiscardLogger()}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: e.store, Sessions: sess, Alerts: e.engine, Redis: e.rdb, Fleet: e.fleet, Logger: cptest.DiscardLogger()}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	if e.agent, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	router, err := tenants.NewRouter(tenants.RouterConfig{Source: e.store, Redis: e.rdb, Fleet: e.fleet, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := router.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Stop)
	pc := tenants.PoolsConfig{Resolver: router, Fleet: e.fleet, PoolSize: max(o.poolSize, 4), Redis: e.rdb,
		ProcessID: "test-app", StatsInterval: time.Second, Logger: cptest.DiscardLogger()}
	if o.pools != nil {
		o.pools(&pc)
	}
	if e.pools, err = tenants.NewPools(pc); err != nil {
		t.Fatal(err)
	}
	if err := e.pools.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pools.Stop)
	return e
}

// addTenant provisions an active tenant on the instance as the provisioning
// agent does, with a table "items".
func (e *env) addTenant(t *testing.T, id string) {
	t.Helper()
	ctx := testContext(t)
	names, err := tenants.NamesFor(e.fleet, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	if err := tenants.EnsureTenant(ctx, e.admin, names); err != nil {
		t.Fatalf("EnsureTenant: %v", err)
	}
	if _, err := e.store.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: e.inst.ID, Database: e.database,
		Schema: names.Schema, Role: names.Role}); err != nil {
		t.Fatalf("SetTenantPlacement: %v", err)
	}
	if _, err := e.store.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
		t.Fatalf("SetTenantStatus: %v", err)
	}
	e.asTenant(t, id, "CREATE TABLE items (id bigint PRIMARY KEY, note text)")
	e.tenants = append(e.tenants, id)
}

// asTenant runs sql on the instance as the tenant's role, the way the
// tenant's own application would.
func (e *env) asTenant(t *testing.T, tenantID, sql string) {
	t.Helper()
	names, _ := tenants.NamesFor(e.fleet, tenantID)
	cptest.AsTenant(t, e.admin, names.Role, names.Schema, sql)
}

// sweep runs one sweep of the instance and fails the test on error.
func (e *env) sweep(t *testing.T) Report {
	t.Helper()
	rep, err := e.agent.Sweep(testContext(t), e.inst.ID)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return rep
}

// alertsOf lists every alert (open or not) of kind on subject.
func (e *env) alertsOf(t *testing.T, kind alerts.Kind, subject string) []alerts.Alert {
	t.Helper()
	list, err := e.engine.List(testContext(t), alerts.ListFilter{Kind: string(kind), Subject: subject, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []alerts.Alert
	for _, a := range list {
		if a.Subject == subject {
			out = append(out, a)
		}
	}
	return out
}

// holdTx runs sql in a tenant transaction of the application's pools and
// keeps it open until release is called (at the latest when the test
// ends). It returns once sql ran, with release and the transaction's
// outcome on done.
func (e *env) holdTx(t *testing.T, tenantID string, sql string) (release func(), done <-chan error) {
	t.Helper()
	ch := make(chan struct{})
	release = sync.OnceFunc(func() { close(ch) })
	t.Cleanup(release)
	return release, e.holdUntil(t, tenantID, sql, ch)
}

func (e *env) holdUntil(t *testing.T, tenantID string, sql string, release <-chan struct{}) <-chan error {
	t.Helper()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.pools.WithTenant(context.Background(), tenantID, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			if sql != "" {
				_, err = tx.Exec(ctx, sql)
			}
			close(started)
			if err != nil {
				return err
			}
			<-release
			_, err = tx.Exec(ctx, "SELECT 1")
			return err
		})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("hold transaction of %s: %v", tenantID, err)
	case <-time.After(30 * time.Second):
		t.Fatal("hold transaction: timed out")
	}
	return done
}

// proxy forwards TCP connections to a server until cut; it is the
// instance's address, so the test can make the instance unreachable and
// bring it back.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	go cp(c, s)
	go cp(s, c)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// cut closes the listener and every open connection: the port refuses.
func (p *proxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// restore listens on the same port again.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restore proxy: %v", err)
	}
	p.serve(ln)
}

var errTimeout = errors.New("timed out")

// eventually polls cond every 200ms for up to d.
func eventually(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errTimeout
}
