// Package dashboard serves the fleet's web pages at "/": server-rendered
// html/template pages over the same reads the /api/v1 handlers and the CLI
// use, with their assets (a vendored htmx and uPlot, the page's own CSS and
// script) embedded. Every button sends its request to the /api/v1 endpoint
// that the CLI's remote mode and scripts call, with the session's CSRF
// token in the X-CSRF-Token header: the pages have no write path of their
// own. See docs/dashboard.md.
package dashboard

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Config is what the pages read. Store, Alerts, Migrations and Queues are
// required; PoolStats and Schedule may be nil (their parts of the pages
// then say so).
type Config struct {
	// Store is the control plane: tenants, instances, health, onboarding,
	// recommendations, cost reports, migration runs, the audit log.
	Store *controlplane.Store
	// Alerts lists alerts and silences (*alerts.Engine, as /api/v1 does).
	Alerts restapi.Alerts
	// Migrations reads migration runs (*migrate.Runner, as /api/v1 does).
	Migrations restapi.Migrations
	// Queues inspects the Asynq queues (depths, a tenant's tasks).
	Queues *asynq.Inspector
	// PoolStats reads the pool statistics every process publishes to Redis
	// (health.Agent.PoolStats).
	PoolStats func(ctx context.Context) ([]tenants.ProcessStats, error)
	// Schedule lists the scheduler's periodic entries with their next run
	// (queue.Scheduler.Entries of a scheduler built, never started).
	Schedule func(now time.Time) []queue.EntryInfo
	// MonitoringPath is where Asynqmon is mounted. Default "/monitoring/".
	MonitoringPath string
	// SampleEvery is how often the overview's charts take a sample.
	// Default 10s.
	SampleEvery time.Duration
	// History is how many samples the charts keep (in memory: they start
	// empty when the process restarts). Default 360 (an hour at 10s).
	History int
	// Logger receives the pages' failures. Default slog.Default().
	Logger *slog.Logger
}

// Dashboard serves the pages. Start runs the chart sampler; the pages work
// without it (the charts are then empty).
type Dashboard struct {
	cfg     Config
	log     *slog.Logger
	pages   *pages
	history *History

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Store == nil || cfg.Alerts == nil || cfg.Migrations == nil || cfg.Queues == nil {
		return nil, errors.New("dashboard: Store, Alerts, Migrations and Queues are required")
	}
	cfg.MonitoringPath = cmp.Or(cfg.MonitoringPath, "/monitoring/")
	cfg.SampleEvery = cmp.Or(cfg.SampleEvery, 10*time.Second)
	cfg.History = cmp.Or(cfg.History, 360)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Dashboard{cfg: cfg, log: cfg.Logger, pages: p, history: NewHistory(cfg.History)}, nil
}

// Mux is where the pages are mounted: httpapi.Server's HandlePage, which
// puts them behind the fleet's login.
type Mux interface {
	HandlePage(pattern string, h http.Handler)
}

// Routes are the patterns Register mounts, in order.
func (d *Dashboard) Routes() []string {
	out := make([]string, 0, len(d.routes()))
	for _, r := range d.routes() {
		out = append(out, r.pattern)
	}
	return out
}

type route struct {
	pattern string
	h       http.Handler
}

func (d *Dashboard) routes() []route {
	return []route{
		{"GET /{$}", d.page(d.overview)},
		{"GET /overview/history", http.HandlerFunc(d.serveHistory)},
		{"GET /tenants", d.page(d.tenantList)},
		{"GET /tenants/{id}", d.page(d.tenantDetail)},
		{"GET /migrations", d.page(d.migrationList)},
		{"GET /alerts", d.page(d.alertList)},
		{"GET /cost", d.page(d.costPage)},
		{"GET /schedule", d.page(d.schedulePage)},
		{"GET /assets/", assetHandler()},
	}
}

// Register mounts every page on mux.
func (d *Dashboard) Register(mux Mux) {
	for _, r := range d.routes() {
		mux.HandlePage(r.pattern, r.h)
	}
}

// Start runs the sampler that feeds the overview's charts until ctx ends
// or Stop. A second Start is a no-op.
func (d *Dashboard) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		d.sampleLoop(ctx)
	}()
}

// Stop ends the sampler and waits for it. Safe to call twice or without
// Start.
func (d *Dashboard) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
