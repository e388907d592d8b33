package tenants

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

// testPassword is the password of strict tenants' logins in these tests;
// testVerifier is its SCRAM-SHA-256 verifier (infra/sessions.Verifier). The
// local server trusts local connections, so what the tests check is which
// role a session logs in as.
const (
	testPassword = "strict-test-password"
	testVerifier = "SCRAM-SHA-256$4096:RTMgC9VqTm9hNHlbH2NgwQ==$3kcXBr3eRTJ+Mhr6qBp93ILKIZz4+Qt7qgx1dY9pekg=:zamjfe5KI/l4YBwDmbUd9HjDUxS2VwucHiGxBBXkBPs="
)

// testLogins resolves every strict tenant to its role and testPassword.
type testLogins struct{}

func (testLogins) Login(_ context.Context, r Route) (string, string, error) {
	return r.Role, testPassword, nil
}

// addStrictTenant creates an active shared tenant like addTenant, lets its
// role log in and makes it strict.
func (f *fixture) addStrictTenant(t testing.TB, id string) Names {
	t.Helper()
	n := f.addTenant(t, id)
	f.makeStrict(t, n)
	return n
}

func (f *fixture) makeStrict(t testing.TB, n Names) {
	t.Helper()
	ctx := context.Background()
	if err := EnableLogin(ctx, f.admin(t), n, testVerifier); err != nil {
		t.Fatalf("EnableLogin: %v", err)
	}
	f.setIsolation(t, n.TenantID, Strict)
}

// setIsolation sets the tenant's isolation level in the control plane and
// publishes its route.
func (f *fixture) setIsolation(t testing.TB, id string, level Isolation) {
	t.Helper()
	if _, err := f.store.SetTenantIsolation(context.Background(), id, level); err != nil {
		t.Fatalf("SetTenantIsolation: %v", err)
	}
	if err := f.router.Publish(context.Background(), id); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// strictSession reads who the tenant's work runs as.
func strictSession(t *testing.T, f *fixture, id string) (session, current, path string) {
	t.Helper()
	err := f.pools.WithTenant(context.Background(), id, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT session_user::text, current_user::text, current_setting('search_path')").
			Scan(&session, &current, &path)
	})
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return session, current, path
}

// TestStrictTenantMatrix checks, from every strict tenant's connections,
// that no statement reaches a neighbour (strict or pooled): SET ROLE to any
// of them or to the application role, any access to a neighbour's schema,
// and the catalog tricks (set_config('role'), SET SESSION AUTHORIZATION,
// granting oneself a role, reading server files, the raw statistics and
// password catalogs, a neighbour's statistics and queries, signalling a
// neighbour's backend, connecting to another database) all fail, while
// the tenant's own data works with no scoping. Pooled tenants keep
// today's behaviour, known limit included.
func TestStrictTenantMatrix(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	strict := []string{"strict-a", "strict-b"}
	pooled := []string{"pooled-c"}
	names := map[string]Names{}
	for _, id := range strict {
		names[id] = f.addStrictTenant(t, id)
	}
	for _, id := range pooled {
		names[id] = f.addTenant(t, id)
	}
	app := AppRoleName(f.fleet)
	// A neighbour's session is open on the server while the attacks run.
	victimConn := f.asApp(t)
	if _, err := victimConn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, self := range strict {
		session, current, path := strictSession(t, f, self)
		if session != names[self].Role || current != names[self].Role || path != names[self].Schema {
			t.Errorf("%s runs as (%s, %s, %s), want its own role and schema %s, %s", self, session, current, path, names[self].Role, names[self].Schema)
		}
		for other, on := range names {
			if other == self {
				continue
			}
			schema := pgx.Identifier{on.Schema}.Sanitize()
			role := pgx.Identifier{on.Role}.Sanitize()
			attacks := []struct{ name, sql string }{
				{"SET ROLE", "SET ROLE " + role},
				{"SET LOCAL ROLE", "SET LOCAL ROLE " + role},
				{"set_config role", "SELECT pg_catalog.set_config('role', '" + on.Role + "', false)"},
				{"SET SESSION AUTHORIZATION", "SET SESSION AUTHORIZATION " + role},
				{"GRANT role to self", "GRANT " + role + " TO " + pgx.Identifier{names[self].Role}.Sanitize()},
				{"SELECT", "SELECT * FROM " + schema + ".items"},
				{"INSERT", "INSERT INTO " + schema + ".items VALUES (99, 'x')"},
				{"UPDATE", "UPDATE " + schema + ".items SET v = 'x'"},
				{"DELETE", "DELETE FROM " + schema + ".items"},
				{"COPY", "COPY " + schema + ".items TO STDOUT"},
				{"CREATE TABLE", "CREATE TABLE " + schema + ".evil (id int)"},
				{"DROP TABLE", "DROP TABLE " + schema + ".items"},
			}
			for _, a := range attacks {
				err := f.pools.WithTenant(ctx, self, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, a.sql)
					return err
				})
				wantPermissionDenied(t, self+" "+a.name+" to "+other, unwrapAll(err))
				_, err = f.pools.Exec(ctx, self, a.sql)
				wantPermissionDenied(t, self+" Exec "+a.name+" to "+other, unwrapAll(err))
			}
			var stats int
			if err := f.pools.QueryRow(ctx, self, "SELECT count(*) FROM pg_catalog.pg_stats WHERE schemaname = $1", on.Schema).Scan(&stats); err != nil || stats != 0 {
				t.Errorf("%s reads %d pg_stats rows of %s (%v), want none", self, stats, other, err)
			}
		}
		for _, a := range []struct{ name, sql string }{
			{"SET ROLE app", "SET ROLE " + pgx.Identifier{app}.Sanitize()},
			{"ALTER ROLE SUPERUSER", "ALTER ROLE " + pgx.Identifier{names[self].Role}.Sanitize() + " SUPERUSER"},
			{"CREATE ROLE", "CREATE ROLE " + pgx.Identifier{f.fleet + "_evil"}.Sanitize()},
			{"pg_read_file", "SELECT pg_catalog.pg_read_file('postgresql.conf')"},
			{"pg_ls_dir", "SELECT pg_catalog.pg_ls_dir('.')"},
			{"lo_import", "SELECT pg_catalog.lo_import('/etc/passwd')"},
			{"COPY FROM PROGRAM", "COPY items FROM PROGRAM 'id'"},
			{"pg_authid", "SELECT rolpassword FROM pg_catalog.pg_authid"},
			{"pg_statistic", "SELECT * FROM pg_catalog.pg_statistic"},
			{"pg_terminate_backend", "SELECT pg_catalog.pg_terminate_backend(" + itoa(int(victimConn.PgConn().PID())) + ")"},
		} {
			_, err := f.pools.Exec(ctx, self, a.sql)
			var pgErr *pgconn.PgError
			// pg_terminate_backend without the right is a permission error
			// (42501) too; anything that succeeds is a failure.
			if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "42704") {
				t.Errorf("%s %s: got %v, want it refused", self, a.name, err)
			}
		}
		// RESET ROLE leads back to the tenant's own role.
		err := f.pools.WithTenant(ctx, self, func(ctx context.Context, tx pgx.Tx) error {
			var user string
			if _, err := tx.Exec(ctx, "RESET ROLE"); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT current_user::text").Scan(&user); err != nil {
				return err
			}
			if user != names[self].Role {
				t.Errorf("%s after RESET ROLE is %s", self, user)
			}
			_, err := tx.Exec(ctx, "SET ROLE "+pgx.Identifier{app}.Sanitize())
			return err
		})
		wantPermissionDenied(t, self+" RESET ROLE then SET ROLE app", unwrapAll(err))
		// Other sessions' queries are hidden.
		var visible int
		err = f.pools.QueryRow(ctx, self, `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE usename IS DISTINCT FROM current_user AND query IS NOT NULL AND query <> '<insufficient privilege>'`).Scan(&visible)
		if err != nil || visible != 0 {
			t.Errorf("%s sees the queries of %d other sessions (%v), want none", self, visible, err)
		}
		// Not the control plane's database.
		for _, db := range []string{dbOf(t, f.cpURL)} {
			u, _ := url.Parse(f.adminURL)
			u.User, u.Path = url.UserPassword(names[self].Role, testPassword), "/"+db
			if conn, err := pgx.Connect(ctx, u.String()); err == nil {
				_ = conn.Close(ctx)
				t.Errorf("%s connected to database %s, want CONNECT refused", self, db)
			}
		}
		// Own data, no scoping statement.
		err = f.pools.WithTenant(ctx, self, func(ctx context.Context, tx pgx.Tx) error {
			for _, sql := range []string{"INSERT INTO items VALUES (2, 'two')", "UPDATE items SET v = 'deux' WHERE id = 2",
				"DELETE FROM items WHERE id = 2", "CREATE TABLE notes (id int)", "DROP TABLE notes"} {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s own data: %v", self, err)
		}
		var v string
		if err := f.pools.QueryRow(ctx, self, "SELECT v FROM items WHERE id = 1").Scan(&v); err != nil || v != self {
			t.Errorf("%s reads %q, %v; want its own row", self, v, err)
		}
		if err := f.pools.QueryRowReadOnly(ctx, self, "SELECT v FROM items WHERE id = 1").Scan(&v); err != nil || v != self {
			t.Errorf("%s read-only read: %q, %v", self, v, err)
		}
		wantCode(t, self+" write in a read-only query", f.pools.QueryRowReadOnly(ctx, self, "DELETE FROM items RETURNING 1").Scan(new(int)), "25006")
		err = f.pools.WithTenantReadOnly(ctx, self, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "DELETE FROM items")
			return err
		})
		wantCode(t, self+" write in a read-only transaction", err, "25006")
	}
	// Pooled tenants: unchanged, the application role scoped per
	// transaction, and the known limit still there.
	session, current, _ := strictSession(t, f, "pooled-c")
	if session != app || current != names["pooled-c"].Role {
		t.Errorf("pooled tenant runs as session %s, current %s; want %s, %s", session, current, app, names["pooled-c"].Role)
	}
	err := f.pools.WithTenant(ctx, "pooled-c", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{names["strict-a"].Role}.Sanitize())
		return err
	})
	if err != nil {
		t.Errorf("pooled tenant: the known limit changed: %v", err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		t.Errorf("%s: got %v, want SQLSTATE %s", what, err, code)
	}
}

func dbOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func itoa(n int) string { return sprintf("%d", n) }

// TestStrictWithoutLoginsFailsClosed: Pools without a LoginResolver refuse a
// strict tenant's work rather than run it as the application role, and a
// resolver that answers another role is refused too.
func TestStrictWithoutLoginsFailsClosed(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *PoolsConfig) { c.Logins = nil })
	f.addStrictTenant(t, "no-login")
	err := f.pools.QueryRow(context.Background(), "no-login", "SELECT 1").Scan(new(int))
	if !errors.Is(err, ErrNoStrictLogin) {
		t.Fatalf("got %v, want ErrNoStrictLogin", err)
	}
	g := setup(t, func(c *PoolsConfig) { c.Logins = neighbourLogins{} })
	g.addTenant(t, "neighbour")
	g.addStrictTenant(t, "liar")
	err = g.pools.QueryRow(context.Background(), "liar", "SELECT 1").Scan(new(int))
	if !errors.Is(err, ErrNoStrictLogin) {
		t.Fatalf("resolver answering another role: got %v, want ErrNoStrictLogin", err)
	}
}

// neighbourLogins answers every route with the role of tenant "neighbour".
type neighbourLogins struct{}

func (neighbourLogins) Login(_ context.Context, r Route) (string, string, error) {
	n, _ := NamesFor(r.Role[:strings.IndexByte(r.Role, '_')], "neighbour")
	return n.Role, testPassword, nil
}

// TestStrictRefusesARoleThatCanBecomeMore: a strict connection whose role
// was made a member of another role is refused before any work runs on it.
func TestStrictRefusesARoleThatCanBecomeMore(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	n := f.addStrictTenant(t, "grown")
	victim := f.addTenant(t, "victim")
	if _, err := f.admin(t).Exec(context.Background(), "GRANT "+pgx.Identifier{victim.Role}.Sanitize()+" TO "+pgx.Identifier{n.Role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	err := f.pools.QueryRow(context.Background(), "grown", "SELECT 1").Scan(new(int))
	if !errors.Is(err, ErrNotTenantSession) {
		t.Fatalf("got %v, want ErrNotTenantSession", err)
	}
}

// TestStrictAndPooledShareOneBudget runs strict and pooled tenants at once
// on a pool of 3 and checks, client side and on the server, that no more
// than 3 connections are ever open, that tenant switches close the least
// recently used idle connection (counted as evictions), that a strict
// tenant keeps at most StrictIdleCap idle connections, and that exhaustion
// still fails fast with a *PoolExhaustedError.
func TestStrictAndPooledShareOneBudget(t *testing.T) {
	t.Parallel()
	const budget = 3
	f := setup(t, func(c *PoolsConfig) {
		c.PoolSize, c.TenantInflightCap, c.InteractiveReserve, c.StrictIdleCap = budget, budget, -1, 1
		c.AcquireTimeout = 300 * time.Millisecond
	})
	ctx := context.Background()
	ids := []string{"s-one", "s-two", "s-three", "s-four"}
	for _, id := range ids {
		f.addStrictTenant(t, id)
	}
	f.addTenant(t, "p-five")
	ids = append(ids, "p-five")
	roles := []string{AppRoleName(f.fleet)}
	for _, id := range ids[:4] {
		n, _ := NamesFor(f.fleet, id)
		roles = append(roles, n.Role)
	}

	// Sample the server's view while the load runs.
	watcher := f.admin(t)
	var maxSeen atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int64
			if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
				WHERE datname = current_database() AND usename = ANY($1)`, roles).Scan(&n); err != nil {
				t.Error(err)
				return
			}
			if n > maxSeen.Load() {
				maxSeen.Store(n)
			}
		}
	})
	var load sync.WaitGroup
	for w := range 6 {
		load.Go(func() {
			for i := range 40 {
				id := ids[(w+i)%len(ids)]
				var v string
				err := f.pools.QueryRow(ctx, id, "SELECT v FROM items WHERE id = 1").Scan(&v)
				if errors.Is(err, ErrPoolExhausted) {
					continue // possible under this load; the deadline is short
				}
				if err != nil || v != id {
					t.Errorf("%s read %q, %v", id, v, err)
					return
				}
			}
		})
	}
	load.Wait()
	close(stop)
	watch.Wait()
	stats := f.pools.Stats()
	if len(stats) != 1 {
		t.Fatalf("got %d pools, want one for the instance", len(stats))
	}
	s := stats[0]
	t.Logf("server saw at most %d connections; %d opens, %d evictions", maxSeen.Load(), s.Opens, s.Evictions)
	if got := maxSeen.Load(); got > budget || s.Open > budget {
		t.Errorf("open connections: server saw up to %d, pool has %d; want at most %d", got, s.Open, budget)
	}
	if s.Evictions == 0 || s.Opens <= budget {
		t.Errorf("got %d opens and %d evictions, want tenant switches to close idle connections", s.Opens, s.Evictions)
	}

	// Exhaustion: every slot held, the next caller fails fast with the
	// typed error, as a pooled pool does.
	hold := make(chan struct{})
	held := make(chan error, budget)
	for i := range budget {
		go func() {
			held <- f.pools.WithTenant(ctx, ids[i], func(ctx context.Context, tx pgx.Tx) error {
				held <- nil
				<-hold
				return nil
			})
		}()
	}
	for range budget {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	err := f.pools.QueryRow(ctx, "s-four", "SELECT 1").Scan(new(int))
	var pe *PoolExhaustedError
	if !errors.As(err, &pe) || pe.TenantID != "s-four" || pe.RetryAfter <= 0 {
		t.Errorf("with every slot held: got %v, want a *PoolExhaustedError for s-four", err)
	}
	close(hold)
	for range budget {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}

	// The idle cap: a burst of one strict tenant leaves one idle connection.
	f.pools.Reset(f.instanceID)
	var burst sync.WaitGroup
	gate := make(chan struct{})
	for range budget {
		burst.Go(func() {
			_ = f.pools.WithTenant(ctx, "s-one", func(ctx context.Context, tx pgx.Tx) error {
				<-gate
				return nil
			})
		})
	}
	eventually.True(t, 5*time.Second, "the burst holding every slot", func() bool { return f.pools.Stats()[0].InFlight == budget })
	close(gate)
	burst.Wait()
	if s := f.pools.Stats()[0]; s.Idle != 1 || s.Open != 1 {
		t.Errorf("after a burst of one strict tenant: %d open, %d idle; want 1 and 1 (StrictIdleCap)", s.Open, s.Idle)
	}
}

// TestEvictionSparesInteractiveConnections: when batch work needs the
// budget, an idle connection last used by batch work is closed before one
// an interactive tenant used, even a less recently used one.
func TestEvictionSparesInteractiveConnections(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *PoolsConfig) { c.PoolSize, c.TenantInflightCap, c.InteractiveReserve = 2, 2, -1 })
	ctx := context.Background()
	f.addStrictTenant(t, "live")
	f.addStrictTenant(t, "job-a")
	f.addStrictTenant(t, "job-b")
	batch := WithPriority(ctx, Batch)
	for _, step := range []struct {
		ctx context.Context
		id  string
	}{{ctx, "live"}, {batch, "job-a"}, {batch, "job-b"}} {
		if err := f.pools.QueryRow(step.ctx, step.id, "SELECT 1").Scan(new(int)); err != nil {
			t.Fatal(err)
		}
	}
	f.pools.mu.RLock()
	tp := f.pools.pools["instance:"+f.instanceID]
	f.pools.mu.RUnlock()
	tp.conns.mu.Lock()
	liveIdle := len(tp.conns.idle[mustNames(t, f, "live").Role]) == 1
	aIdle := len(tp.conns.idle[mustNames(t, f, "job-a").Role]) == 1
	tp.conns.mu.Unlock()
	if !liveIdle || aIdle {
		t.Errorf("after job-b needed the budget: live idle %v, job-a idle %v; want live kept, job-a closed", liveIdle, aIdle)
	}
}

func mustNames(t *testing.T, f *fixture, id string) Names {
	t.Helper()
	n, err := NamesFor(f.fleet, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
