package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// exhaustResult is the exhaust scenario's last line.
type exhaustResult struct {
	DetectS          float64 `json:"detect_s"`
	ResolveS         float64 `json:"resolve_s"`
	Fired            int     `json:"fired"`
	InteractiveP99MS float64 `json:"interactive_p99_ms"`
	Subject          string  `json:"subject"`
	Tenants          int     `json:"tenants"`
	Workers          int     `json:"workers"`
	Pool             int     `json:"pool"`
}

// runExhaust is the case study against a running fleet (the FLEET_*
// environment of `fleet run`: control plane, Redis, API address and
// token, ticket webhook secret): it onboards -tenants tenants through the
// fleet's ticket webhook, runs -workers batch workers per tenant through
// tenants.Pools in this process (which publishes its statistics like any
// application) for -duration, with one interactive probe, stops, and
// watches GET /api/v1/alerts until the pool_exhausted alert of the pool
// resolves.
func runExhaust(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exhaust", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nTenants := fs.Int("tenants", 18, "tenants to onboard")
	workers := fs.Int("workers", 4, "batch workers per tenant")
	pool := fs.Int("pool", 20, "connections of the shared pool")
	batchMS := fs.Int("batch-ms", 50, "how long each batch statement holds its connection")
	duration := fs.Duration("duration", 40*time.Second, "how long the load runs")
	api := fs.String("api", apiBase(cfg.HTTPAddr), "the running fleet's API base URL")
	wait := fs.Duration("wait", 180*time.Second, "how long to wait for onboarding and for the resolve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret, ok := strings.CutPrefix(cfg.TicketWebhookSecret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(secret)
	if !ok || err != nil || cfg.APIToken == "" {
		return errors.New("exhaust needs the running fleet's FLEET_TICKET_WEBHOOK_SECRET (whsec_...) and FLEET_API_TOKEN")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cp, err := pgxpool.New(ctx, config.WithPoolSize(cfg.DatabaseURL, 4))
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
	defer rdb.Close()
	hc := &http.Client{Timeout: 30 * time.Second}

	// Onboard through the fleet.
	prefix := "ex" + randomHex()
	ids := make([]string, *nTenants)
	sender := ticketSender{base: *api, secret: key, http: hc}
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", prefix, i)
		if err := sender.send(ctx, "EXHAUST-"+ids[i], ids[i], "msg_"+ids[i]); err != nil {
			return fmt.Errorf("onboard %s: %w", ids[i], err)
		}
	}
	instances := map[string]bool{}
	deadline := time.Now().Add(*wait)
	for _, id := range ids {
		for {
			t, err := store.GetTenant(ctx, id)
			if err == nil && t.Status == tenants.TenantActive {
				instances[t.InstanceID] = true
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("tenant %s not active after %s", id, *wait)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if len(instances) != 1 {
		return fmt.Errorf("the tenants landed on %d instances; the case study needs one shared pool", len(instances))
	}
	var instance string
	for id := range instances {
		instance = id
	}
	subject := "instance:" + instance
	fmt.Fprintf(stderr, "onboarded %d tenants on %s\n", len(ids), instance)

	router, err := tenants.NewRouter(tenants.RouterConfig{Source: store, Redis: rdb, Fleet: cfg.Name, Logger: log})
	if err != nil {
		return err
	}
	if err := router.Start(ctx); err != nil {
		return err
	}
	defer router.Stop()
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: router, Fleet: cfg.Name, PoolSize: *pool,
		AcquireTimeout: 30 * time.Second, Redis: rdb, StatsInterval: 2 * time.Second, ProcessID: "fleetbench-exhaust-" + prefix, Logger: log})
	if err != nil {
		return err
	}
	if err := pools.Start(ctx); err != nil {
		return err
	}
	defer pools.Stop()

	// The load, and one interactive probe beside it.
	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var probes []time.Duration
	start := time.Now()
	for _, id := range ids {
		for range *workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bctx := tenants.WithPriority(loadCtx, tenants.Batch)
				for loadCtx.Err() == nil {
					_, _ = pools.Exec(bctx, id, "SELECT pg_catalog.pg_sleep($1)", float64(*batchMS)/1000)
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for loadCtx.Err() == nil {
			t0 := time.Now()
			var one int
			if err := pools.QueryRow(loadCtx, ids[0], "SELECT 1").Scan(&one); err == nil {
				mu.Lock()
				probes = append(probes, time.Since(t0))
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	res := exhaustResult{Subject: subject, Tenants: *nTenants, Workers: *workers, Pool: *pool, DetectS: -1, ResolveS: -1}
	poll := func() (alerts.Alert, int, error) { return latestAlert(ctx, hc, *api, cfg.APIToken, subject, start) }
	loadEnd := start.Add(*duration)
	for time.Now().Before(loadEnd) {
		a, _, err := poll()
		if err == nil && a.ID != 0 && res.DetectS < 0 {
			res.DetectS = a.StartedAt.Sub(start).Seconds()
			fmt.Fprintf(stderr, "pool_exhausted fired after %.1fs: %s\n", res.DetectS, a.Summary)
		}
		time.Sleep(time.Second)
	}
	stop()
	wg.Wait()
	stopped := time.Now()
	for time.Since(stopped) < *wait {
		a, n, err := poll()
		if err == nil && a.ID != 0 && a.ResolvedAt != nil {
			res.ResolveS = a.ResolvedAt.Sub(stopped).Seconds()
			res.Fired = n
			break
		}
		time.Sleep(time.Second)
	}
	slices.Sort(probes)
	if len(probes) > 0 {
		res.InteractiveP99MS = float64(probes[(len(probes)*99)/100].Microseconds()) / 1000
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(out))
	return nil
}

// latestAlert asks the fleet's API for the pool_exhausted alerts of subject
// that started after since: the latest, and the notifications of them all.
func latestAlert(ctx context.Context, hc *http.Client, api, token, subject string, since time.Time) (alerts.Alert, int, error) {
	q := url.Values{"status": {"all"}, "kind": {string(alerts.PoolExhausted)}, "subject": {subject}, "limit": {"100"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/alerts?"+q.Encode(), nil)
	if err != nil {
		return alerts.Alert{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return alerts.Alert{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return alerts.Alert{}, 0, fmt.Errorf("alerts API answered %d", resp.StatusCode)
	}
	var body struct {
		Alerts []alerts.Alert `json:"alerts"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&body); err != nil {
		return alerts.Alert{}, 0, err
	}
	var latest alerts.Alert
	fired := 0
	for _, a := range body.Alerts {
		if a.Subject != subject || a.StartedAt.Before(since) {
			continue
		}
		fired += max(a.Notifications, 1)
		if a.StartedAt.After(latest.StartedAt) {
			latest = a
		}
	}
	return latest, fired, nil
}

// apiBase turns FLEET_HTTP_ADDR (":8080") into a base URL on localhost.
func apiBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
