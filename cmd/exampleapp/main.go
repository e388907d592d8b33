// Command exampleapp is a small tenant-scoped HTTP API built the way an
// application using the tenants package is: a Router over the fleet's
// control plane and Redis, Pools (publishing their statistics to Redis for
// the fleet's pool watch, and obeying its drains), and the Middleware with
// an Authorize of its own. It reads the fleet's FLEET_* configuration
// (FLEET_DATABASE_URL, FLEET_REDIS_URL, FLEET_NAME) and
// EXAMPLEAPP_TOKEN, the bearer token its clients present (at least 16
// characters).
//
//	exampleapp [-addr :8090] [-pool 20] [-acquire-timeout 5s] [-tenant-cap 0]
//
// Routes, the tenant in the path:
//
//	GET  /t/{tenant}/accounts          the tenant's accounts (interactive)
//	POST /t/{tenant}/accounts          {"external_ref","holder_name","currency"}
//	POST /t/{tenant}/work?ms=50        a batch-priority job holding a connection ms
//	GET  /healthz
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "exampleapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("exampleapp", flag.ContinueOnError)
	addr := fs.String("addr", ":8090", "listen address")
	pool := fs.Int("pool", 20, "connections per shared-instance pool")
	acquire := fs.Duration("acquire-timeout", 5*time.Second, "how long a request waits for a connection")
	tenantCap := fs.Int("tenant-cap", 0, "most connections one tenant may hold (0: a quarter of -pool)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	token := getenv("EXAMPLEAPP_TOKEN")
	if len(token) < 16 {
		return errors.New("EXAMPLEAPP_TOKEN must be set to at least 16 characters")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The application only reads routes from the control plane.
	cp, err := pgxpool.New(ctx, config.WithPoolSize(cfg.DatabaseURL, 4))
	if err != nil {
		return err
	}
	defer cp.Close()
	target, err := redisconn.New(cfg.Redis())
	if err != nil {
		return err
	}
	rdb := target.NewClient()
	defer rdb.Close()
	app, err := newApp(ctx, appConfig{
		Store: controlplane.NewStore(cp), Redis: rdb, Fleet: cfg.Name, Token: token, Logger: log,
		Pools: tenants.PoolsConfig{PoolSize: *pool, AcquireTimeout: *acquire, TenantInflightCap: *tenantCap},
	})
	if err != nil {
		return err
	}
	defer app.Stop()
	srv := &http.Server{Addr: *addr, Handler: app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("exampleapp listening", slog.String("addr", *addr), slog.String("fleet", cfg.Name))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
