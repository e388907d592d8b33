// Package httpapi is the fleet's HTTP front: health and readiness probes,
// Prometheus metrics, the Asynqmon dashboard, and the routes the agents add
// (webhooks, REST API, dashboard pages). Everything but the probes, the
// login form and webhooks sits behind authentication: FLEET_API_TOKEN (the
// bootstrap operator), a named API token, or a browser session opened at
// /login. Writes made with a credential a browser attaches on its own
// (basic auth, the session cookie) must come from the fleet's own origin,
// a session's writes must carry its CSRF token, and a viewer cannot write
// at all; see docs/security.md, "HTTP surface".
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
	// Token is FLEET_API_TOKEN, the bootstrap operator's credential.
	// Required.
	Token string
	// Authenticator checks named tokens, logins and sessions
	// (*operators.Service). When set, GET/POST /login and POST /logout are
	// served and browsers without a session are sent to the login form;
	// when nil, only Token is accepted and a 401 carries a Basic challenge.
	Authenticator Authenticator
	// SecureCookies marks the session cookies Secure on every response,
	// for a fleet served over TLS by a proxy (FLEET_PUBLIC_ORIGIN https).
	// They are Secure anyway on requests that came over TLS.
	SecureCookies bool
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
	// Monitoring, when set, is mounted at /monitoring/ behind the login
	// (the Asynqmon UI), as a page (HandlePage).
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
		s.HandlePage("GET /metrics", metrics)
	}
	if cfg.Monitoring != nil {
		s.HandlePage("/monitoring/", cfg.Monitoring)
	}
	if cfg.Authenticator != nil {
		s.mountLogin()
	}
	s.api = newEndpoint("api", cfg.Addr, s.mux, cfg.Logger)
	return s, nil
}

// Handle registers a route that is open to anyone (webhooks, which verify
// their own signatures; browsers hold no credential for them).
func (s *Server) Handle(pattern string, h http.Handler) { s.handle(pattern, h) }

// HandleAPI registers a JSON API route behind authentication (see guard):
// no credential is 401 JSON; writes need an operator, made with a browser
// credential they must be same-origin and, with a session, carry its CSRF
// token; a request body must be Content-Type application/json (else 415).
func (s *Server) HandleAPI(pattern string, h http.Handler) {
	s.handle(pattern, s.guard(routeAPI, requireJSONBody(h)))
}

// HandlePage registers a page route (the dashboard's; Asynqmon and
// /metrics use it too) behind the same login: a browser without a session
// asking for a page (GET, Accept: text/html) is redirected to
// /login?next=<the page>, other requests without a credential get 401;
// the handler finds the principal with auth.PrincipalFrom and the CSRF
// token to put in its forms with auth.CSRFTokenFrom. Writes (any method
// but GET, HEAD, OPTIONS) need an operator (a viewer gets 403), must be
// same-origin unless made with a bearer token and, with a session, must
// carry its CSRF token (X-CSRF-Token header or csrf_token form field;
// 403 otherwise), whatever their content type.
func (s *Server) HandlePage(pattern string, h http.Handler) {
	s.handle(pattern, s.guard(routePage, h))
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
