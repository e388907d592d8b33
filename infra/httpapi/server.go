// Package httpapi is the fleet's HTTP front: health and readiness probes,
// Prometheus metrics, the Asynqmon dashboard, and the routes the agents add
// (webhooks, REST API). Everything but the probes, metrics and webhooks sits
// behind the API token.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	// Registry is served on /metrics. Default: an empty registry.
	Registry *prometheus.Registry
	// Checks are probed by /readyz.
	Checks []Check
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
	cfg  Config
	mux  *http.ServeMux
	http *http.Server

	mu       sync.Mutex
	listener net.Listener
	done     chan struct{}
	stopped  bool
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
	s := &Server{cfg: cfg, mux: http.NewServeMux(), done: make(chan struct{})}
	s.mux.HandleFunc("GET /healthz", healthz)
	s.mux.Handle("GET /readyz", readyz(cfg.Checks))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	if cfg.Monitoring != nil {
		s.HandleAPI("/monitoring/", cfg.Monitoring)
	}
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handle registers a route that is open to anyone (webhooks, which verify
// their own signatures).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleAPI registers a route behind the API token.
func (s *Server) HandleAPI(pattern string, h http.Handler) {
	s.mux.Handle(pattern, RequireToken(s.cfg.Token, h))
}

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen on %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.listener = ln
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http server stopped", slog.Any("error", err))
		}
	}()
	s.cfg.Logger.InfoContext(ctx, "http listening", slog.String("addr", ln.Addr().String()))
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Stop stops accepting connections and drains in-flight requests for up to
// the shutdown timeout, then closes what is left. Safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped || s.listener == nil {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.cfg.Logger.Warn("http drain cut short", slog.Any("error", err))
		_ = s.http.Close()
	}
	<-s.done
}
