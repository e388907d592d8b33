package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/dblease"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/wiring"
)

// onboardResult is the onboard scenario's JSON line.
type onboardResult struct {
	Scenario     string  `json:"scenario"`
	Tenants      int     `json:"tenants"`
	Rate         float64 `json:"rate"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	TotalSeconds float64 `json:"total_seconds"`
	Failed       int     `json:"failed"`
	Concurrency  int     `json:"concurrency"`
}

// runOnboard is `fleetbench onboard`: it starts a fleet in-process (a
// scratch control plane, a leased Redis database for its queues, the
// provisioning agent on a worker, the intake webhooks on a local port),
// sends signed generic ticket webhooks (Standard Webhooks) at -rate per
// second (0: all at once), and measures per tenant the time from its
// webhook's 202 to the tenant being active in the catalog.
func runOnboard(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("onboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("tenants", 200, "tenants to onboard")
	rate := fs.Float64("rate", 10, "webhooks per second; 0 sends them all at once")
	timeout := fs.Duration("timeout", 120*time.Second, "give up on tenants not active after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := startOnboardFleet(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer f.close()

	ids := make([]string, *n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%05d", i)
	}
	var (
		mu       sync.Mutex
		accepted = map[string]time.Time{}
		active   = map[string]time.Duration{}
		sendErrs []error
	)
	start := time.Now()
	var wg sync.WaitGroup
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	wg.Go(func() {
		for i, id := range ids {
			if interval > 0 {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					select {
					case <-sendCtx.Done():
						return
					case <-time.After(d):
					}
				}
			}
			wg.Go(func() {
				err := f.sendTicket(sendCtx, id)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					sendErrs = append(sendErrs, fmt.Errorf("%s: %w", id, err))
					return
				}
				accepted[id] = time.Now()
			})
		}
	})
	// Poll the catalog for activations while the webhooks go out.
	deadline := time.Now().Add(*timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := controlplane.NewStore(f.cp).TenantIDs(ctx, tenants.TenantActive)
		if err != nil {
			return err
		}
		now := time.Now()
		mu.Lock()
		for _, id := range got {
			if _, seen := active[id]; !seen {
				if at, ok := accepted[id]; ok {
					active[id] = now.Sub(at)
				}
			}
		}
		done := len(active)+len(sendErrs) >= *n
		mu.Unlock()
		if done || now.After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	total := time.Since(start)
	stopSending()
	wg.Wait()
	for _, err := range sendErrs {
		log.Warn("webhook failed", slog.Any("error", err))
	}
	lat := make([]time.Duration, 0, len(active))
	for _, d := range active {
		lat = append(lat, d)
	}
	lat = sortedCopy(lat)
	res := onboardResult{Scenario: "onboard", Tenants: *n, Rate: *rate, TotalSeconds: round(total.Seconds()),
		Failed: *n - len(active), Concurrency: f.concurrency}
	if len(lat) > 0 {
		res.P50ms, res.P99ms, res.MaxMs = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
	}
	return printResult(stdout, res)
}

// onboardFleet is the in-process fleet of the onboard scenario.
type onboardFleet struct {
	fleet, cpDB, adminURL string
	concurrency           int
	secret                []byte
	cp                    *pgxpool.Pool
	lease                 *dblease.Lease
	queue                 *queue.Client
	svc                   *wiring.Services
	worker                *queue.Worker
	srv                   *httpapi.Server
	tickets               ticketSender
	log                   *slog.Logger
}

// startOnboardFleet builds the fleet with the binary's own wiring (package
// wiring) on a scratch control plane, a leased Redis database and a fleet
// name of its own, and starts a worker and the HTTP server as `fleet run`
// does (the worker polling every 50ms).
func startOnboardFleet(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *onboardFleet, err error) {
	suffix := randomHex()
	f := &onboardFleet{fleet: "fo" + suffix, cpDB: "fleetbench_cp_" + suffix, log: log,
		concurrency: cfg.WorkerConcurrency, secret: []byte("fleetbench-" + suffix)}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	f.adminURL = cmp.Or(cfg.LocalAdminURL, config.WithDatabase(cfg.DatabaseURL, "postgres"))
	// The pool size of `fleet run`: every concurrent task may hold a
	// control-plane connection.
	cpURL := config.WithPoolSize(config.WithDatabase(cfg.DatabaseURL, f.cpDB), cfg.WorkerConcurrency+10)
	if f.cp, err = controlplane.Open(ctx, cpURL, log); err != nil {
		return nil, err
	}
	if f.lease, err = dblease.Acquire(ctx, cfg.Redis(), "fleetbench_"+f.fleet, redisLeaseTTL); err != nil {
		return nil, err
	}
	fc := cfg
	fc.Name, fc.DatabaseURL, fc.RedisURL = f.fleet, cpURL, f.lease.URL
	fc.Provider, fc.LocalAdminURL = local.Name, f.adminURL
	fc.TicketWebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(f.secret)
	fc.APIToken = "fleetbench-token-" + suffix
	fc.TaskCheckInterval = 50 * time.Millisecond
	fc.ShutdownTimeout = 5 * time.Second
	fc.SecretKey = randomKey()
	f.queue = queue.NewClient(f.lease.Client)
	if f.svc, err = wiring.New(ctx, wiring.Conns{Config: fc, Logger: log, DB: f.cp, Redis: f.lease.Client,
		Queue: f.queue, Registry: prometheus.NewRegistry()}); err != nil {
		return nil, err
	}
	if f.worker, err = queue.NewWorker(queue.WorkerConfig{Redis: f.lease.Client, Concurrency: fc.WorkerConcurrency,
		TaskCheckInterval: fc.TaskCheckInterval, ShutdownTimeout: fc.ShutdownTimeout, Logger: log}); err != nil {
		return nil, err
	}
	f.svc.RegisterHandlers(f.worker)
	if err := f.worker.Start(ctx); err != nil {
		return nil, err
	}
	if f.srv, err = httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: fc.APIToken, Logger: log}); err != nil {
		return nil, err
	}
	if err := f.svc.RegisterRoutes(f.srv, log); err != nil {
		return nil, err
	}
	if err := f.srv.Start(ctx); err != nil {
		return nil, err
	}
	f.tickets = ticketSender{base: "http://" + f.srv.Addr(), secret: f.secret, http: &http.Client{Timeout: 30 * time.Second}}
	return f, nil
}

// sendTicket posts one signed generic ticket webhook and wants a 202.
func (f *onboardFleet) sendTicket(ctx context.Context, id string) error {
	return f.tickets.send(ctx, "BENCH-"+id, id, "msg_"+id+"_"+f.fleet)
}

// close stops the fleet and removes its databases, roles and Redis data.
func (f *onboardFleet) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if f.srv != nil {
		f.srv.Stop()
	}
	if f.worker != nil {
		f.worker.Stop()
	}
	if f.svc != nil {
		f.svc.Close()
	}
	if f.queue != nil {
		_ = f.queue.Close()
	}
	if f.cp != nil {
		f.cp.Close()
	}
	var errs []error
	if f.lease != nil {
		errs = append(errs, f.lease.Release(ctx))
	}
	errs = append(errs, dropFleet(ctx, f.adminURL, f.fleet, f.cpDB))
	if err := errors.Join(errs...); err != nil {
		f.log.Warn("cleanup incomplete", slog.Any("error", err))
	}
}
