// Package httpapi is the fleet's HTTP front: health and readiness probes,
// Prometheus metrics, the Asynqmon dashboard, and the routes the agents add
// (webhooks, REST API). Everything but the probes and webhooks sits behind
// the API token, and writes made with a credential a browser attaches on
// its own (basic auth) must come from the fleet's own origin; see
// docs/security.md, "HTTP surface".
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server.
type Config struct {
	// Addr is the listen address. Default 127.0.0.1:8080; ":0" picks a port.
	Addr string
	// Token is the API token guarding the API and dashboards. Required.
	Token string
	// TrustedOrigins are origins ("scheme://host[:port]") from which a
	// browser's writes are accepted besides the request's own Host, such
	// as the public origin of a reverse proxy that rewrites Host. Default
	// none.
	TrustedOrigins []string
	// Registry is served on /metrics. Default: an empty registry.
	Registry *prometheus.Registry
	// MetricsAddr, when set, is a second listen address that serves only
	// GET /metrics, without authentication (for a Prometheus scraper on a
	// private network); /metrics then is no longer served on Addr. Default
	// empty: /metrics on Addr, behind the token.
	MetricsAddr string
	// Checks are probed by /readyz.
	Checks []Check
	// ReadinessDetail makes /readyz answer each failed check's error text.
	// Default false: a failed check reads "unavailable" (driver errors name
	// hosts, users and databases) and its error goes to the log.
	ReadinessDetail bool
	// Monitoring, when set, is mounted at /monitoring/ behind the token
	// (the Asynqmon UI).
	Monitoring http.Handler
	// ShutdownTimeout bounds the drain of in-flight requests. Default 25s.
	ShutdownTimeout time.Duration
	// Logger receives server logs. Default slog.Default().
	Logger *slog.Logger
}

// Server serves the fleet's HTTP endpoints.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	origins *originGuard
	api     *endpoint
	metrics *endpoint // nil without MetricsAddr
	routes  []string  // the patterns registered on mux, in order

	mu      sync.Mutex
	started bool
	stopped bool
}

// New builds a server with the built-in routes; add more with Handle and
// HandleAPI before Start.
func New(cfg Config) (*Server, error) {
	if len(cfg.Token) < 16 {
		return nil, errors.New("httpapi: an API token of at least 16 characters is required")
	}
	cfg.Addr = cmp.Or(cfg.Addr, "127.0.0.1:8080")
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, 25*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	origins, err := newOriginGuard(cfg.TrustedOrigins, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), origins: origins}
	s.handle("GET /healthz", http.HandlerFunc(healthz))
	s.handle("GET /readyz", readyz(cfg.Checks, cfg.ReadinessDetail, cfg.Logger))
	metrics := promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		s.metrics = newEndpoint("metrics", cfg.MetricsAddr, mux, cfg.Logger)
	} else {
		s.handleBehindToken("GET /metrics", metrics)
	}
	if cfg.Monitoring != nil {
		s.handleBehindToken("/monitoring/", cfg.Monitoring)
	}
	s.api = newEndpoint("api", cfg.Addr, s.mux, cfg.Logger)
	return s, nil
}

// Handle registers a route that is open to anyone (webhooks, which verify
// their own signatures; browsers hold no credential for them).
func (s *Server) Handle(pattern string, h http.Handler) { s.handle(pattern, h) }

// HandleAPI registers a JSON API route behind the API token: writes made
// with basic auth must be same-origin, and a request body must be
// Content-Type application/json (else 415).
func (s *Server) HandleAPI(pattern string, h http.Handler) {
	s.handleBehindToken(pattern, requireJSONBody(h))
}

// HandlePage registers a dashboard page (infra/dashboard) behind the same
// credential as Asynqmon: the API token today, the browser login when it
// lands. Pages only read; their buttons call HandleAPI routes.
func (s *Server) HandlePage(pattern string, h http.Handler) { s.handleBehindToken(pattern, h) }

// handleBehindToken registers a route behind the API token whose writes
// made with basic auth must be same-origin, whatever their content type
// (Asynqmon; the dashboard's pages to come).
func (s *Server) handleBehindToken(pattern string, h http.Handler) {
	s.handle(pattern, RequireToken(s.cfg.Token, s.origins.wrap(h)))
}

// handle registers h on the mux and records its pattern.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routes = append(s.routes, pattern)
}

// Routes returns the patterns ("GET /api/v1/tenants") registered on the
// API listener, built-in ones included, in registration order. A test of
// a package that mounts routes compares them with what it documents.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	if err := s.api.listen(ctx); err != nil {
		return err
	}
	if s.metrics != nil {
		if err := s.metrics.listen(ctx); err != nil {
			_ = s.api.ln.Close()
			return err
		}
		s.metrics.serve(ctx, s.cfg.Logger)
	}
	s.api.serve(ctx, s.cfg.Logger)
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string { return s.listening(s.api) }

// MetricsAddr is the address of the separate metrics listener once
// started, empty without Config.MetricsAddr.
func (s *Server) MetricsAddr() string { return s.listening(s.metrics) }

func (s *Server) listening(e *endpoint) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || e == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Stop stops accepting connections and drains in-flight requests for up to
// the shutdown timeout, then closes what is left. Safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped || !s.started {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, e := range []*endpoint{s.api, s.metrics} {
		if e != nil {
			wg.Go(func() { e.shutdown(ctx, s.cfg.Logger) })
		}
	}
	wg.Wait()
}
