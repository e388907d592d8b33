package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/wiring"
)

func init() {
	commands["demo"] = command{
		summary: "a self-contained demo: fleet, example app, 12 tenants, noisy load, alert, migration, cost advice",
		run:     runDemo,
	}
}

const demoUsage = `usage: fleet demo [--check] [--addr HOST:PORT] [--app-addr HOST:PORT]
                  [--instance-server URL] [--database NAME] [--exampleapp PATH] [--load DURATION]

Starts the fleet (api, scheduler, worker) in this process with demo settings
and the example application beside it, onboards 12 tenants through the
signed ticket webhook, runs the case study's noisy batch load on them until
the pool-exhaustion alert fires and then stops it, starts a migration run
and a cost analysis, and prints the dashboard's address, a login and a
summary. Then it keeps running until Ctrl-C; with --check it returns
instead, 0 only if the alert fired and resolved, the migration run
succeeded and a recommendation exists (read through the API).

Its data is its own: the control-plane database --database (fleet_demo),
a leased Redis database (1 to 15) on FLEET_REDIS_URL's server, the fleet
name "demo", and tenant databases on --instance-server (a PostgreSQL with
pg_stat_statements preloaded and HypoPG installed; .ci/services demo
starts one under .data/demo). Every run starts from scratch.`

// demoOptions are fleet demo's flags.
type demoOptions struct {
	check          bool
	addr           string
	appAddr        string
	instanceServer string
	database       string
	exampleApp     string
	load           time.Duration
	// timeout bounds --check: every check must pass within it.
	timeout time.Duration
	// hold is how long the load keeps running once the alert fired.
	hold time.Duration
}

// demoInstanceServer is where .ci/services demo starts the demo's
// instance server.
const demoInstanceServer = "postgres://postgres@127.0.0.1:5499/postgres?sslmode=disable"

func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "demo")
	fs.Usage = func() { fmt.Fprintln(env.stderr, demoUsage); fs.PrintDefaults() }
	var o demoOptions
	fs.BoolVar(&o.check, "check", false, "return after the checks instead of running until Ctrl-C; exit 0 only if they all passed")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address of the fleet's api role (dashboard, API, webhooks)")
	fs.StringVar(&o.appAddr, "app-addr", "127.0.0.1:8090", "listen address of the example application")
	fs.StringVar(&o.instanceServer, "instance-server", demoInstanceServer, "admin URL of the PostgreSQL server the demo's tenant databases go on (pg_stat_statements preloaded, HypoPG installed)")
	fs.StringVar(&o.database, "database", "fleet_demo", "the demo's control-plane database on FLEET_DATABASE_URL's server (must start with fleet_demo; dropped and recreated)")
	fs.StringVar(&o.exampleApp, "exampleapp", "", "path of the exampleapp binary (default: exampleapp next to this fleet binary)")
	fs.DurationVar(&o.load, "load", 60*time.Second, "longest the noisy load runs (it stops earlier once the alert has fired)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], demoUsage)
	}
	o.timeout = 2 * time.Minute
	o.hold = 15 * time.Second
	if o.check {
		o.hold = 2 * time.Second
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.exampleApp == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the exampleapp binary: %w (pass --exampleapp)", err)
		}
		o.exampleApp = filepath.Join(filepath.Dir(exe), "exampleapp")
	}
	if _, err := os.Stat(o.exampleApp); err != nil {
		return fmt.Errorf("the example application is not built at %s (make build, or pass --exampleapp): %w", o.exampleApp, err)
	}
	err := demoMain(ctx, env, o)
	if ctx.Err() != nil {
		// Ctrl-C: whatever was started has been stopped; not a failure.
		fmt.Fprintln(env.stdout, "demo stopped")
		return nil //nolint:nilerr // the error is the interrupt's: stopping on Ctrl-C is the demo's normal end
	}
	return err
}

// validate checks the flags.
func (o demoOptions) validate() error {
	if !strings.HasPrefix(o.database, "fleet_demo") || len(o.database) > 63 {
		return fmt.Errorf("--database %q must start with fleet_demo: the demo drops and recreates it", o.database)
	}
	for _, c := range o.database {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("--database %q: lower-case letters, digits and _ only", o.database)
		}
	}
	if o.load < 10*time.Second {
		return errors.New("--load must be at least 10s")
	}
	if o.addr == o.appAddr {
		return errors.New("--addr and --app-addr must differ")
	}
	return nil
}

// demoMain runs the demo: prepare its data, start the fleet and the
// example application, drive the scenario, report.
func demoMain(ctx context.Context, env *cliEnv, o demoOptions) error {
	d := &demo{opts: o, out: env.stdout, start: time.Now(), hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 256}}}
	defer d.hc.CloseIdleConnections()
	d.logf("preparing the demo's own data (control plane %s, instance server %s)", o.database, config.Redact(o.instanceServer))
	ns, err := prepareDemoData(ctx, env.getenv, o)
	if err != nil {
		return err
	}
	defer ns.release()
	d.token, d.api = ns.settings["FLEET_API_TOKEN"], apiBaseURL(o.addr)
	d.ticketSecret, d.appToken = ns.settings["FLEET_TICKET_WEBHOOK_SECRET"], ns.appToken

	cfg, err := config.Load(ns.getenv)
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	log := newLogger(cfg, env.stderr)
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	svc, err := wiring.New(ctx, a.conns())
	if err != nil {
		return err
	}
	defer svc.Close()
	stopFleet, err := startRoles(ctx, a, svc, []string{"api", "scheduler", "worker"})
	if err != nil {
		return fmt.Errorf("%w (is %s free? --addr picks another address)", err, o.addr)
	}
	defer stopFleet()
	if err := d.waitReady(ctx); err != nil {
		return err
	}
	d.logf("fleet %q running: api, scheduler, worker (health sweep every %s, pool watch every %s)",
		cfg.Name, cfg.Schedule.HealthInterval, cfg.Schedule.PoolWatchInterval)

	exApp, err := startExampleApp(ctx, o, ns, env.stderr)
	if err != nil {
		return err
	}
	defer exApp.stop()
	d.app = exApp
	d.logf("example application running at http://%s", o.appAddr)

	user, password, err := demoLogin(ctx, svc)
	if err != nil {
		return err
	}
	token := d.token
	if env.getenv("FLEET_API_TOKEN") == d.token {
		// The user's own token is not echoed: they know where it is.
		token = "$FLEET_API_TOKEN" //nolint:gosec // G101: the variable's name, printed instead of its value
	}
	d.printAccess(user, password, token)

	res, err := d.scenario(ctx, func(ctx context.Context) (int, error) {
		r, err := svc.Cost.Analyze(ctx)
		return len(r.Recommendations), err
	})
	if ctx.Err() != nil {
		d.logf("interrupted; stopping the example application and the fleet")
		return nil
	}
	d.printSummary(res)
	if err != nil {
		return err
	}
	if o.check {
		return res.verdict(o.timeout)
	}
	d.printAccess(user, password, token)
	fmt.Fprintln(d.out, "The demo keeps running; Ctrl-C stops it.")
	<-ctx.Done()
	d.logf("stopping the example application and the fleet")
	return nil
}

// demoLogin creates the demo's operator user, "demo", with a generated
// password, and returns its login. The demo's control plane is its own
// and reset on every run, so the user is new each time.
func demoLogin(ctx context.Context, svc *wiring.Services) (user, password string, err error) {
	password = generateToken()
	ctx = auth.WithPrincipal(ctx, auth.Principal{Name: "demo", Role: auth.RoleOperator, Via: "local"})
	if _, err := svc.Operators.AddUser(ctx, "demo", auth.RoleOperator, password); err != nil {
		return "", "", fmt.Errorf("demo: create the demo user: %w", err)
	}
	return "demo", password, nil
}

// apiBaseURL turns a listen address into the base URL a local client uses.
func apiBaseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
