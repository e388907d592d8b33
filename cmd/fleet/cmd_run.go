package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hibiken/asynqmon"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/wiring"
)

func init() {
	commands["run"] = command{
		summary: "run the fleet roles (api, scheduler, worker) until SIGINT/SIGTERM",
		run:     runFleet,
	}
}

// stopper is a started component; stop is idempotent.
type stopper interface{ Stop() }

func runFleet(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	rolesFlag := fs.String("roles", "", "comma-separated roles to run: api, scheduler, worker (default FLEET_ROLES or all)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, err := config.Load(env.getenv)
	if err != nil {
		return err
	}
	if *rolesFlag != "" {
		cfg.Roles = config.SplitList(*rolesFlag)
	}
	roles, err := config.ParseRoles(cfg.Roles)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log := newLogger(cfg, env.stderr)
	if cfg.APIToken == "" && slices.Contains(roles, "api") {
		cfg.APIToken = generateToken()
		// Printed once, on purpose, to the terminal; never logged.
		fmt.Fprintf(env.stdout, "API token (generated for this run; set FLEET_API_TOKEN to keep one): %s\n", cfg.APIToken)
	}

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

	stopAll, err := startRoles(ctx, a, svc, roles)
	if err != nil {
		return err
	}
	defer stopAll()
	log.InfoContext(ctx, "fleet running", slog.Any("roles", roles), slog.String("fleet", cfg.Name))
	<-ctx.Done()
	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	stopAll()
	log.Info("stopped")
	return nil
}

// startRoles starts the roles in order worker, scheduler, api and returns
// what stops them in reverse: the API stops taking requests first, the
// worker drains last. The stop function is idempotent; on an error the
// roles already started are stopped.
func startRoles(ctx context.Context, a *app, svc *wiring.Services, roles []string) (func(), error) {
	var started []stopper
	var once sync.Once
	stopAll := func() {
		once.Do(func() {
			for i := len(started) - 1; i >= 0; i-- {
				started[i].Stop()
			}
		})
	}
	for _, role := range []string{"worker", "scheduler", "api"} {
		if !slices.Contains(roles, role) {
			continue
		}
		c, err := startRole(ctx, a, svc, role)
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("start %s: %w", role, err)
		}
		started = append(started, c)
	}
	return stopAll, nil
}

func startRole(ctx context.Context, a *app, svc *wiring.Services, role string) (stopper, error) {
	switch role {
	case "worker":
		metrics := queue.NewTaskMetrics()
		a.registry.MustRegister(metrics)
		w, err := queue.NewWorker(queue.WorkerConfig{
			Redis:             a.redis,
			Concurrency:       a.cfg.WorkerConcurrency,
			TaskCheckInterval: a.cfg.TaskCheckInterval,
			ShutdownTimeout:   a.cfg.ShutdownTimeout,
			Logger:            a.log,
			Metrics:           metrics,
		})
		if err != nil {
			return nil, err
		}
		svc.RegisterHandlers(w)
		if err := w.Start(ctx); err != nil {
			return nil, err
		}
		// Workers deliver the alert outbox (stopped with the services).
		if err := svc.Alerts.Start(ctx); err != nil {
			w.Stop()
			return nil, err
		}
		// A fleet restarted after a crash finishes the runs it left.
		if n, err := svc.Migrate.ResumeRunning(ctx); err != nil {
			a.log.WarnContext(ctx, "resuming migration runs failed", slog.Any("error", err))
		} else if n > 0 {
			a.log.InfoContext(ctx, "migration runs resumed", slog.Int("tenants", n))
		}
		return w, nil
	case "scheduler":
		s, err := svc.NewScheduler(a.conns())
		if err != nil {
			return nil, err
		}
		return s, s.Start(ctx)
	case "api":
		mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: a.redisTarget.ConnOpt()})
		srv, err := httpapi.New(httpapi.Config{
			Addr:            a.cfg.HTTPAddr,
			Token:           a.cfg.APIToken,
			Authenticator:   svc.Operators,
			SecureCookies:   strings.HasPrefix(a.cfg.PublicOrigin, "https://"),
			TrustedOrigins:  trustedOrigins(a.cfg),
			Registry:        a.registry,
			MetricsAddr:     a.cfg.MetricsAddr,
			Checks:          readinessChecks(a),
			ReadinessDetail: a.cfg.LogLevel == "debug",
			Monitoring:      mon,
			ShutdownTimeout: a.cfg.ShutdownTimeout,
			Logger:          a.log,
		})
		if err != nil {
			return nil, err
		}
		if err := svc.RegisterRoutes(srv, a.log); err != nil {
			_ = mon.Close()
			return nil, err
		}
		if users, err := svc.Operators.Users(ctx); err == nil && len(users) == 0 {
			a.log.WarnContext(ctx, "no dashboard users yet: create one with `fleet users add NAME --role operator`; until then only FLEET_API_TOKEN logs in")
		}
		dash, closeDash, err := svc.NewDashboard(a.conns())
		if err != nil {
			_ = mon.Close()
			return nil, err
		}
		dash.Register(srv)
		if err := srv.Start(ctx); err != nil {
			closeDash()
			return nil, err
		}
		dash.Start(ctx)
		return stopFunc(func() { srv.Stop(); closeDash(); _ = mon.Close() }), nil
	}
	return nil, fmt.Errorf("unknown role %q", role)
}

// stopFunc adapts a function to stopper.
type stopFunc func()

func (f stopFunc) Stop() { f() }

// trustedOrigins are the origins besides the request's Host from which
// browser writes are accepted: the configured public origin, if any.
func trustedOrigins(cfg config.Config) []string {
	if cfg.PublicOrigin == "" {
		return nil
	}
	return []string{cfg.PublicOrigin}
}

func readinessChecks(a *app) []httpapi.Check {
	return []httpapi.Check{
		{Name: "postgres", Probe: func(ctx context.Context) error { return a.db.Ping(ctx) }},
		{Name: "redis", Probe: func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }},
	}
}

func generateToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
