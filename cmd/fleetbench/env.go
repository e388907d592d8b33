package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// env is a benchmark's scratch fleet: a control-plane database, a shared
// instance database, a Redis key prefix (the fleet name), a Router and
// Pools. close removes all of it, roles included.
type env struct {
	cfg      config.Config
	fleet    string
	cpDB     string
	dataDB   string
	adminURL string // the control-plane server's postgres database, as configured
	// dataAdminURL is the postgres database of the server holding the
	// instance database: the configured server, or a benchmark's private
	// one (newEnvOn).
	dataAdminURL string
	dataURL      string // the data database (superuser)
	// dataDisposable says the data server is removed after the scenario
	// (a private cluster): close leaves its databases and roles alone.
	dataDisposable bool
	host           string
	port           int
	params         string
	cp             *pgxpool.Pool
	data           *pgx.Conn // superuser session on the data database, for DDL
	rdb            *redis.Client
	cat            *controlplane.Store
	instance       controlplane.Instance
	router         *tenants.Router
	pools          *tenants.Pools
	log            *slog.Logger
	// key is the scratch fleet's secret key: strict tenants' passwords
	// derive from it (sessions.Logins).
	key    []byte
	stderr io.Writer
}

// The scenarios' Pools settings unless a flag changes them: the defaults of
// tenants.PoolsConfig.
const (
	benchPoolSize       = 20
	benchAcquireTimeout = 5 * time.Second
)

// redisLeaseTTL bounds how long a crashed scenario keeps the Redis database
// it leased (package dblease) for the queues it cannot prefix.
const redisLeaseTTL = 30 * time.Minute

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newEnv creates the scratch fleet on the configured server; adjust may
// change the Pools config.
func newEnv(ctx context.Context, cfg config.Config, stderr io.Writer, adjust func(*tenants.PoolsConfig)) (*env, error) {
	return newEnvOn(ctx, cfg, cfg.DatabaseURL, stderr, adjust)
}

// newEnvOn is newEnv with the instance database on the server of
// dataServer (a superuser URL; its database is ignored), the control
// plane staying on the configured server.
func newEnvOn(ctx context.Context, cfg config.Config, dataServer string, stderr io.Writer, adjust func(*tenants.PoolsConfig)) (_ *env, err error) {
	suffix := randomHex()
	e := &env{cfg: cfg, fleet: "fb" + suffix, cpDB: "fleetbench_cp_" + suffix, dataDB: "fleetbench_data_" + suffix,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), stderr: stderr}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	u, err := url.Parse(dataServer)
	if err != nil {
		return nil, fmt.Errorf("parse the instance server's URL: %w", err)
	}
	e.host, e.params = u.Hostname(), u.RawQuery
	e.port, _ = strconv.Atoi(cmp.Or(u.Port(), "5432"))
	e.adminURL = config.WithDatabase(cfg.DatabaseURL, "postgres")
	e.dataAdminURL = config.WithDatabase(dataServer, "postgres")
	e.dataURL = config.WithDatabase(dataServer, e.dataDB)

	admin, err := pgx.Connect(ctx, e.dataAdminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", config.Redact(e.dataAdminURL), err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{e.dataDB}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create scratch database: %w", err)
	}
	e.cp, err = controlplane.Open(ctx, config.WithDatabase(cfg.DatabaseURL, e.cpDB), e.log)
	if err != nil {
		return nil, err
	}
	e.cat = controlplane.NewStore(e.cp)
	e.key = make([]byte, 32)
	_, _ = rand.Read(e.key)
	logins, err := sessions.NewLogins(e.key)
	if err != nil {
		return nil, err
	}
	target, err := redisconn.New(cfg.Redis())
	if err != nil {
		return nil, err
	}
	e.rdb = target.NewClient()

	if e.data, err = pgx.Connect(ctx, e.dataURL); err != nil {
		return nil, err
	}
	if err := tenants.PrepareDatabase(ctx, e.data, e.fleet, e.dataDB); err != nil {
		return nil, err
	}
	e.instance, err = e.cat.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "bench-shared", Status: provider.StatusReady, Host: e.host, Port: e.port, Database: e.dataDB}, Provider: "local", Tier: tenants.Shared})
	if err != nil {
		return nil, err
	}
	e.router, err = tenants.NewRouter(tenants.RouterConfig{Source: e.cat, Redis: e.rdb, Fleet: e.fleet, Logger: e.log})
	if err != nil {
		return nil, err
	}
	if err := e.router.Start(ctx); err != nil {
		return nil, err
	}
	pc := tenants.PoolsConfig{
		Resolver: e.router, Fleet: e.fleet, PoolSize: benchPoolSize, AcquireTimeout: benchAcquireTimeout,
		ConnParams: e.params, Redis: e.rdb, Logger: e.log, Logins: logins,
	}
	if adjust != nil {
		adjust(&pc)
	}
	e.pools, err = tenants.NewPools(pc)
	if err != nil {
		return nil, err
	}
	if err := e.pools.Start(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// addTenant creates an active shared tenant with a table items(id, v) of
// rows rows.
func (e *env) addTenant(ctx context.Context, id string, rows int) error {
	n, err := tenants.NamesFor(e.fleet, id)
	if err != nil {
		return err
	}
	if _, err := e.cat.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared}); err != nil {
		return err
	}
	if err := tenants.EnsureTenant(ctx, e.data, n); err != nil {
		return err
	}
	if _, err := e.cat.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: e.instance.ID, Database: e.dataDB, Schema: n.Schema, Role: n.Role}); err != nil {
		return err
	}
	if _, err := e.cat.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
		return err
	}
	return e.pools.WithTenant(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO items SELECT g, 'value ' || g FROM generate_series(1, $1) g", rows)
		return err
	})
}

// close removes everything newEnv created; it is safe on a partial env.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if e.pools != nil {
		e.pools.Stop()
	}
	if e.router != nil {
		e.router.Stop()
	}
	if e.data != nil {
		_ = e.data.Close(ctx)
	}
	if e.cp != nil {
		e.cp.Close()
	}
	if e.rdb != nil {
		iter := e.rdb.Scan(ctx, 0, e.fleet+":*", 1000).Iterator()
		for iter.Next(ctx) {
			e.rdb.Del(ctx, iter.Val())
		}
		errs = append(errs, iter.Err(), e.rdb.Close())
	}
	if e.dataAdminURL == e.adminURL {
		errs = append(errs, dropFleet(ctx, e.adminURL, e.fleet, e.dataDB, e.cpDB))
	} else {
		errs = append(errs, dropFleet(ctx, e.adminURL, e.fleet, e.cpDB))
		if e.dataAdminURL != "" && !e.dataDisposable {
			errs = append(errs, dropFleet(ctx, e.dataAdminURL, e.fleet, e.dataDB))
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.log.Warn("cleanup incomplete", slog.Any("error", err))
	}
}

// dropFleet removes a scratch fleet from the server: the given databases,
// the local provider's instance databases of the fleet ("<fleet>_inst_..."),
// then the fleet's roles.
func dropFleet(ctx context.Context, adminURL, fleet string, databases ...string) error {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	errs := []error{local.DropFleetDatabases(ctx, admin, fleet)}
	for _, db := range databases {
		if db == "" {
			continue
		}
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		errs = append(errs, err)
	}
	errs = append(errs, tenants.DropFleetRoles(ctx, admin, fleet))
	return errors.Join(errs...)
}
