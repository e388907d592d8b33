package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/health"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// sweepResult is the sweep scenario's last line.
type sweepResult struct {
	Tenants    int     `json:"tenants"`
	Instances  int     `json:"instances"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// SweepSeconds are each instance's sweep, WatchSeconds the pool watch.
	SweepSeconds []float64 `json:"sweep_seconds"`
	WatchSeconds float64   `json:"watch_seconds"`
	SetupSeconds float64   `json:"setup_seconds"`
}

// runSweep provisions -tenants tenants over -instances shared instance
// databases (roles, schemas with one table, grants, control-plane rows),
// then times one full health cycle: every instance's sweep, side by side as
// the fleet's workers run them, and the pool watch. cpu_seconds is this
// process's user+system time during the cycle (the server's is not in it).
func runSweep(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nTenants := fs.Int("tenants", 10000, "tenants in all")
	nInst := fs.Int("instances", 10, "shared instances (databases)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nTenants < 1 || *nInst < 1 || *nInst > 100 {
		return fmt.Errorf("-tenants must be at least 1 and -instances 1 to 100")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	suffix := randomHex()
	fleet, cpDB := "fs"+suffix, "fleetbench_cp_"+suffix
	adminURL := config.WithDatabase(cfg.DatabaseURL, "postgres")
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(cmp.Or(u.Port(), "5432"))
	var dbs []string
	for i := range *nInst {
		dbs = append(dbs, fmt.Sprintf("%s_inst_%02d", fleet, i))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := dropFleet(cctx, adminURL, fleet, append([]string{cpDB}, dbs...)...); err != nil {
			log.Warn("cleanup incomplete", slog.Any("error", err))
		}
	}()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	for _, db := range append([]string{cpDB}, dbs...) {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return err
		}
	}
	cp, err := controlplane.Open(ctx, config.WithPoolSize(config.WithDatabase(cfg.DatabaseURL, cpDB), 16), log)
	if err != nil {
		return err
	}
	defer cp.Close()
	store := controlplane.NewStore(cp)
	target, err := redisconn.New(cfg.Redis())
	if err != nil {
		return err
	}
	rdb := target.NewClient()
	defer func() {
		iter := rdb.Scan(context.Background(), 0, fleet+":*", 1000).Iterator()
		for iter.Next(context.Background()) {
			rdb.Del(context.Background(), iter.Val())
		}
		_ = rdb.Close()
	}()

	setup := time.Now()
	insts := make([]controlplane.Instance, *nInst)
	for i, db := range dbs {
		if insts[i], err = store.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{
			ID: fmt.Sprintf("%03d-shared", i+1), Status: provider.StatusReady, Host: u.Hostname(), Port: port, Database: db},
			Provider: "local", Tier: tenants.Shared, MaxTenants: *nTenants}); err != nil {
			return err
		}
	}
	if err := provisionSweepTenants(ctx, cfg, store, fleet, insts, *nTenants); err != nil {
		return err
	}
	setupSeconds := time.Since(setup).Seconds()
	fmt.Fprintf(stderr, "provisioned %d tenants on %d instances in %.1fs\n", *nTenants, *nInst, setupSeconds)

	conn, err := local.NewConnector(local.ConnectorConfig{AdminURL: adminURL, MaxConns: 4})
	if err != nil {
		return err
	}
	defer conn.Close()
	sess, err := sessions.New(sessions.Config{Connector: conn, Key: []byte(randomKey())})
	if err != nil {
		return err
	}
	engine, err := alerts.New(alerts.Config{Store: store, Fleet: fleet, Logger: log})
	if err != nil {
		return err
	}
	agent, err := health.New(health.Config{Store: store, Sessions: sess, Alerts: engine, Redis: rdb, Fleet: fleet, Logger: log})
	if err != nil {
		return err
	}
	res := sweepResult{Tenants: *nTenants, Instances: *nInst, SetupSeconds: setupSeconds, SweepSeconds: make([]float64, *nInst)}
	cpu0 := cpuSeconds()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i, inst := range insts {
		g.Go(func() error {
			t0 := time.Now()
			rep, err := agent.Sweep(gctx, inst.ID)
			res.SweepSeconds[i] = time.Since(t0).Seconds()
			if err == nil && !rep.Instance.Up {
				err = fmt.Errorf("instance %s down: %s", inst.ID, rep.Instance.Error)
			}
			return err
		})
	}
	g.Go(func() error {
		t0 := time.Now()
		_, err := agent.Watch(gctx)
		res.WatchSeconds = time.Since(t0).Seconds()
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds = cpuSeconds() - cpu0
	// The scrape of the cycle's results, as Prometheus would.
	reg := prometheus.NewRegistry()
	reg.MustRegister(agent.Collector())
	if mfs, err := reg.Gather(); err == nil {
		n := 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
		fmt.Fprintf(stderr, "health series served: %d\n", n)
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(out))
	return nil
}

// provisionSweepTenants creates n tenants spread over insts: per instance
// database, the application role and, in batches, each tenant's role,
// schema (with one table) and grants as tenants.EnsureTenant leaves them;
// then the control-plane rows through the Store.
func provisionSweepTenants(ctx context.Context, cfg config.Config, store *controlplane.Store, fleet string, insts []controlplane.Instance, n int) error {
	per := make([][]tenants.Names, len(insts))
	for i := range n {
		names, err := tenants.NamesFor(fleet, fmt.Sprintf("t%05d", i))
		if err != nil {
			return err
		}
		per[i%len(insts)] = append(per[i%len(insts)], names)
	}
	app := pgx.Identifier{tenants.AppRoleName(fleet)}.Sanitize()
	for i, inst := range insts {
		conn, err := pgx.Connect(ctx, config.WithDatabase(cfg.DatabaseURL, inst.Database))
		if err != nil {
			return err
		}
		if err := tenants.PrepareDatabase(ctx, conn, fleet, inst.Database); err != nil {
			_ = conn.Close(ctx)
			return err
		}
		for start := 0; start < len(per[i]); start += 200 {
			var b strings.Builder
			for _, nm := range per[i][start:min(start+200, len(per[i]))] {
				r, s := pgx.Identifier{nm.Role}.Sanitize(), pgx.Identifier{nm.Schema}.Sanitize()
				fmt.Fprintf(&b, "CREATE ROLE %[1]s NOLOGIN NOINHERIT; GRANT %[1]s TO CURRENT_USER; CREATE SCHEMA %[2]s AUTHORIZATION %[1]s;"+
					" REVOKE ALL ON SCHEMA %[2]s FROM PUBLIC; GRANT %[1]s TO %[3]s; CREATE TABLE %[2]s.items (id bigint PRIMARY KEY);"+
					" ALTER TABLE %[2]s.items OWNER TO %[1]s;\n", r, s, app)
			}
			if _, err := conn.Exec(ctx, b.String()); err != nil {
				_ = conn.Close(ctx)
				return err
			}
		}
		_ = conn.Close(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, inst := range insts {
		for _, nm := range per[i] {
			g.Go(func() error {
				if _, err := store.CreateTenant(gctx, controlplane.Tenant{ID: nm.TenantID, Name: nm.TenantID, Tier: tenants.Shared}); err != nil {
					return err
				}
				if _, err := store.SetTenantPlacement(gctx, nm.TenantID, controlplane.Placement{InstanceID: inst.ID,
					Database: inst.Database, Schema: nm.Schema, Role: nm.Role}); err != nil {
					return err
				}
				_, err := store.SetTenantStatus(gctx, nm.TenantID, tenants.TenantActive, "")
				return err
			})
		}
	}
	return g.Wait()
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
