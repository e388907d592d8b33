package tenants

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tenantfleet/tenantfleet/config"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

// fixture is one test's fleet: a control plane, a shared instance database
// prepared for the fleet, a Redis database, a started Router and Pools.
type fixture struct {
	fleet      string
	store      TestStore
	cp         *pgxpool.Pool // the control plane
	cpURL      string
	rdb        *redis.Client
	redisURL   string
	dataDB     string
	adminURL   string // the data database, as the superuser
	host       string
	port       int
	params     string
	instanceID string
	router     *Router
	pools      *Pools
}

func fleetName() string { return TestEnv.UniqueName("f") }

// setup builds a fixture; poolsCfg may adjust the Pools config.
func setup(t testing.TB, adjust func(*PoolsConfig)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{fleet: fleetName()}
	// Registered first, so it runs last: roles go once the databases are gone.
	t.Cleanup(func() { dropFleetRoles(t, f.fleet) })
	cfg := TestEnv.ServerConfig(t)
	cpURL, cpPool := TestEnv.Database(t)
	f.cpURL, f.cp, f.store = cpURL, cpPool, TestEnv.NewStore(cpPool)
	f.redisURL, f.rdb = TestEnv.RedisDB(t)
	f.dataDB = TestEnv.ScratchDatabase(t)
	f.adminURL = config.WithDatabase(cfg.DatabaseURL, f.dataDB)
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	f.host = u.Hostname()
	f.port, _ = strconv.Atoi(u.Port())
	if f.port == 0 {
		f.port = 5432
	}
	f.params = u.RawQuery

	admin := f.admin(t)
	if err := PrepareDatabase(ctx, admin, f.fleet, f.dataDB); err != nil {
		t.Fatalf("PrepareDatabase: %v", err)
	}
	f.instanceID = "i-" + f.fleet
	if err := f.store.AddInstance(ctx, f.instanceID, Shared, f.host, f.port, f.dataDB); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	f.router = f.newRouter(t, f.rdb)
	pc := PoolsConfig{Resolver: f.router, Fleet: f.fleet, ConnParams: f.params, Redis: f.rdb,
		Logger: TestEnv.DiscardLogger(), StatsInterval: 50 * time.Millisecond, Logins: testLogins{}}
	if adjust != nil {
		adjust(&pc)
	}
	f.pools, err = NewPools(pc)
	if err != nil {
		t.Fatalf("NewPools: %v", err)
	}
	if err := f.pools.Start(ctx); err != nil {
		t.Fatalf("Pools.Start: %v", err)
	}
	t.Cleanup(f.pools.Stop)
	return f
}

// newRouter starts a Router of the fixture's fleet over client.
func (f *fixture) newRouter(t testing.TB, client redis.UniversalClient) *Router {
	t.Helper()
	r, err := NewRouter(RouterConfig{Source: f.store, Redis: client, Fleet: f.fleet, Logger: TestEnv.DiscardLogger()})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Router.Start: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// admin connects to the data database as the superuser.
func (f *fixture) admin(t testing.TB) *pgx.Conn {
	t.Helper()
	return connect(t, f.adminURL)
}

// asApp connects to the data database as the fleet's application role.
func (f *fixture) asApp(t testing.TB) *pgx.Conn {
	t.Helper()
	u, _ := url.Parse(f.adminURL)
	u.User = url.User(AppRoleName(f.fleet))
	return connect(t, u.String())
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// addTenant creates an active shared tenant with a table items(id, v) and
// one row (1, id).
func (f *fixture) addTenant(t testing.TB, id string) Names {
	t.Helper()
	ctx := context.Background()
	n, err := NamesFor(f.fleet, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.AddTenant(ctx, id, id, Shared); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	if err := EnsureTenant(ctx, f.admin(t), n); err != nil {
		t.Fatalf("EnsureTenant: %v", err)
	}
	if _, err := f.store.PlaceTenant(ctx, id, f.instanceID, f.dataDB, n.Schema, n.Role); err != nil {
		t.Fatalf("SetTenantPlacement: %v", err)
	}
	if _, err := f.store.SetTenantStatus(ctx, id, TenantActive, ""); err != nil {
		t.Fatalf("SetTenantStatus: %v", err)
	}
	err = f.pools.WithTenant(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO items VALUES (1, $1)", id)
		return err
	})
	if err != nil {
		t.Fatalf("create items of %s: %v", id, err)
	}
	return n
}

// dropFleetRoles drops every role of fleet, after their databases are gone.
func dropFleetRoles(t testing.TB, fleet string) {
	t.Helper()
	ctx := context.Background()
	cfg := TestEnv.ServerConfig(t)
	conn, err := pgx.Connect(ctx, config.WithDatabase(cfg.DatabaseURL, "postgres"))
	if err != nil {
		t.Errorf("drop roles: %v", err)
		return
	}
	defer conn.Close(ctx)
	if err := DropFleetRoles(ctx, conn, fleet); err != nil {
		t.Errorf("drop roles: %v", err)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func redisForBench(b *testing.B) (string, *redis.Client) {
	b.Helper()
	return TestEnv.RedisDB(b)
}
