package tenants

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

// rawConn borrows the pool's single connection without any scoping.
func rawSession(t *testing.T, f *fixture, key string) (user, path string, leaked bool) {
	t.Helper()
	ctx := context.Background()
	f.pools.mu.RLock()
	tp := f.pools.pools[key]
	f.pools.mu.RUnlock()
	if tp == nil {
		t.Fatalf("no pool %s", key)
	}
	bc, err := f.pools.connect(ctx, tp, Route{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.conns.put(bc, false)
	conn := bc.conn
	if err := conn.QueryRow(ctx, "SELECT current_user, current_setting('search_path')").Scan(&user, &path); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "SELECT 1 FROM t_leaky.items")
	return user, path, err == nil
}

func TestNothingLeaksToTheNextBorrower(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *PoolsConfig) { c.PoolSize = 1 }) // one connection: every borrower reuses it
	ctx := context.Background()
	f.addTenant(t, "leaky")
	key := "instance:" + f.instanceID
	wantUser, wantPath, _ := rawSession(t, f, key)
	if wantUser != AppRoleName(f.fleet) {
		t.Fatalf("got unscoped user %s, want %s", wantUser, AppRoleName(f.fleet))
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"WithTenant commit", func() error {
			return f.pools.WithTenant(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT * FROM items")
				return err
			})
		}},
		{"WithTenant session-level SET", func() error {
			return f.pools.WithTenant(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SET ROLE "+pgx.Identifier{"leaky"}.Sanitize()+"; SET search_path = t_leaky")
				if err != nil { // the role is named after the fleet; do it right:
					return err
				}
				return nil
			})
		}},
		{"WithTenant rollback", func() error {
			err := f.pools.WithTenant(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
				return errors.New("boom")
			})
			if err == nil || err.Error() != "boom" {
				return err
			}
			return nil
		}},
		{"WithTenant failed statement", func() error {
			_ = f.pools.WithTenant(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT * FROM missing")
				return err
			})
			return nil
		}},
		{"QueryRow", func() error {
			var v string
			return f.pools.QueryRow(ctx, "leaky", "SELECT v FROM items WHERE id = 1").Scan(&v)
		}},
		{"QueryRowReadOnly", func() error {
			var v string
			return f.pools.QueryRowReadOnly(ctx, "leaky", "SELECT v FROM items WHERE id = 1").Scan(&v)
		}},
		{"Exec failing", func() error {
			_, _ = f.pools.Exec(ctx, "leaky", "INSERT INTO items VALUES (1, 'dup')")
			return nil
		}},
	}
	n, _ := NamesFor(f.fleet, "leaky")
	steps[1].run = func() error {
		return f.pools.WithTenant(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SET ROLE "+pgx.Identifier{n.Role}.Sanitize())
			if err == nil {
				_, err = tx.Exec(ctx, "SET search_path = "+pgx.Identifier{n.Schema}.Sanitize())
			}
			return err
		})
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		user, path, leaked := rawSession(t, f, key)
		if user != wantUser || path != wantPath || leaked {
			t.Errorf("after %s: got user %s, search_path %s, tenant readable %v; want %s, %s, false",
				s.name, user, path, leaked, wantUser, wantPath)
		}
	}
	// Read-only really is read-only.
	err := f.pools.WithTenantReadOnly(ctx, "leaky", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM items")
		return err
	})
	if err == nil {
		t.Errorf("DELETE in WithTenantReadOnly succeeded, want read-only error")
	}
	if _, err := f.pools.Exec(ctx, "leaky", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := f.pools.QueryRowReadOnly(ctx, "leaky", "DELETE FROM items RETURNING v").Scan(&v); err == nil {
		t.Errorf("DELETE in QueryRowReadOnly succeeded, want read-only error")
	}
}

func TestExhaustionFailsFastWith503(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	f := setup(t, func(c *PoolsConfig) {
		c.PoolSize, c.TenantInflightCap, c.InteractiveReserve, c.AcquireTimeout = 2, 2, -1, timeout
	})
	ctx := context.Background()
	f.addTenant(t, "hog")
	hold, held := make(chan struct{}), make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- f.pools.WithTenant(ctx, "hog", func(ctx context.Context, tx pgx.Tx) error {
				held <- struct{}{}
				<-hold
				return nil
			})
		}()
	}
	<-held
	<-held
	start := time.Now()
	err := f.pools.QueryRow(ctx, "hog", "SELECT 1").Scan(new(int))
	waited := time.Since(start)
	var pe *PoolExhaustedError
	if !errors.Is(err, ErrPoolExhausted) || !errors.As(err, &pe) {
		t.Fatalf("got %v, want *PoolExhaustedError", err)
	}
	if pe.Waited < timeout || pe.RetryAfter <= 0 || pe.TenantID != "hog" {
		t.Errorf("got %+v, want Waited >= %s, a positive RetryAfter, tenant hog", pe, timeout)
	}
	if waited < timeout {
		t.Errorf("returned after %s, before the deadline %s", waited, timeout)
	}
	rec := httptest.NewRecorder()
	if !WriteUnavailable(rec, err) {
		t.Fatal("WriteUnavailable did not handle the exhaustion")
	}
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("got status %d, want 503", rec.Code)
	}
	if s, _ := strconv.Atoi(rec.Header().Get("Retry-After")); s < 1 {
		t.Errorf("got Retry-After %q, want >= 1", rec.Header().Get("Retry-After"))
	}
	if WriteUnavailable(httptest.NewRecorder(), errors.New("other")) {
		t.Error("WriteUnavailable handled an unrelated error")
	}
	stats := f.pools.Stats()
	if len(stats) != 1 || stats[0].Exhausted != 1 || stats[0].Tenants["hog"].Exhausted != 1 {
		t.Errorf("got stats %+v, want one exhaustion of hog", stats)
	}
	close(hold)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Free again.
	if err := f.pools.QueryRow(ctx, "hog", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
}

func TestDedicatedTenantUsesItsOwnDatabase(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "small-co")
	dedicatedDB := TestEnv.ScratchDatabase(t)
	admin := connect(t, config.WithDatabase(TestEnv.ServerConfig(t).DatabaseURL, dedicatedDB))
	if err := PrepareDatabase(ctx, admin, f.fleet, dedicatedDB); err != nil {
		t.Fatal(err)
	}
	n, _ := NamesFor(f.fleet, "big-bank")
	if err := EnsureTenant(ctx, admin, n); err != nil {
		t.Fatal(err)
	}
	dedicated := "ded-" + f.fleet
	if err := f.store.AddInstance(ctx, dedicated, Dedicated, f.host, f.port, dedicatedDB); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AddTenant(ctx, "big-bank", "Big Bank", Dedicated); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.PlaceTenant(ctx, "big-bank", dedicated, dedicatedDB, n.Schema, n.Role); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetTenantStatus(ctx, "big-bank", TenantActive, ""); err != nil {
		t.Fatal(err)
	}
	var db, user string
	if err := f.pools.QueryRow(ctx, "big-bank", "SELECT current_database(), current_user").Scan(&db, &user); err != nil {
		t.Fatal(err)
	}
	if db != dedicatedDB || user != n.Role {
		t.Errorf("got database %s as %s, want %s as %s", db, user, dedicatedDB, n.Role)
	}
	if err := f.pools.QueryRow(ctx, "small-co", "SELECT current_database()").Scan(&db); err != nil || db != f.dataDB {
		t.Errorf("shared tenant: got %s, %v; want %s", db, err, f.dataDB)
	}
	keys := map[string]bool{}
	for _, s := range f.pools.Stats() {
		keys[s.Pool] = true
	}
	if !keys["tenant:big-bank"] || !keys["instance:"+f.instanceID] {
		t.Errorf("got pools %v, want tenant:big-bank and instance:%s", keys, f.instanceID)
	}
	// The pools close before the dedicated database is dropped.
	t.Cleanup(func() { f.pools.Reset(dedicated) })
	f.pools.mu.RLock()
	tp := f.pools.pools["tenant:big-bank"]
	f.pools.mu.RUnlock()
	t.Cleanup(tp.conns.reset)
}

func TestDrainResetsPoolsInEveryProcess(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "drained")
	if err := f.pools.QueryRow(ctx, "drained", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	f.pools.mu.RLock()
	tp := f.pools.pools["instance:"+f.instanceID]
	f.pools.mu.RUnlock()
	if _, idle := tp.conns.counts(); idle == 0 {
		t.Fatal("want an idle connection before the drain")
	}
	// Another process (its own Pools, same fleet) sends the drain.
	other, err := NewPools(PoolsConfig{Resolver: f.router, Fleet: f.fleet, Redis: f.rdb})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Drain(ctx, f.instanceID); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "pool reset by the drain message", func() bool { open, _ := tp.conns.counts(); return open == 0 })
	if err := f.pools.QueryRow(ctx, "drained", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}

func TestStatsCollectorAndRedis(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	f.addTenant(t, "counted")
	if err := f.pools.QueryRow(ctx, "counted", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.pools.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range families {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"tenantfleet_pool_in_flight", "tenantfleet_pool_waiting", "tenantfleet_pool_exhausted_total",
		"tenantfleet_pool_acquire_wait_seconds", "tenantfleet_tenant_in_flight", "tenantfleet_tenant_acquire_wait_seconds"} {
		if !got[name] {
			t.Errorf("metric %s missing, got %v", name, got)
		}
	}
	key := StatsKey(f.fleet, f.pools.cfg.ProcessID)
	eventually.True(t, 5*time.Second, "statistics published to Redis", func() bool {
		raw, err := f.rdb.Get(ctx, key).Result()
		return err == nil && len(raw) > 0 && contains(raw, `"counted"`)
	})
	if ttl, _ := f.rdb.PTTL(ctx, key).Result(); ttl <= 0 {
		t.Errorf("got TTL %s, want a positive TTL", ttl)
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestIdlePoolIsClosed(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *PoolsConfig) { c.IdleTimeout = 50 * time.Millisecond })
	ctx := context.Background()
	f.addTenant(t, "sleepy")
	eventually.True(t, 5*time.Second, "idle pool closed", func() bool { return len(f.pools.Stats()) == 0 })
	// And created again on the next use.
	if err := f.pools.QueryRow(ctx, "sleepy", "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
}
