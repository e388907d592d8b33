package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// endpoint is one http.Server on one listen address: the API's, or the
// separate metrics listener's.
type endpoint struct {
	name string
	addr string
	http *http.Server
	ln   net.Listener
	done chan struct{}
}

func newEndpoint(name, addr string, h http.Handler, log *slog.Logger) *endpoint {
	return &endpoint{name: name, addr: addr, done: make(chan struct{}), http: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// listen binds the address; serve starts serving on it.
func (e *endpoint) listen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen on %s: %w", e.addr, err)
	}
	e.ln = ln
	return nil
}

func (e *endpoint) serve(ctx context.Context, log *slog.Logger) {
	go func() {
		defer close(e.done)
		if err := e.http.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", slog.String("listener", e.name), slog.Any("error", err))
		}
	}()
	log.InfoContext(ctx, "http listening", slog.String("listener", e.name), slog.String("addr", e.ln.Addr().String()))
}

// shutdown drains in-flight requests until ctx ends, then closes what is
// left, and waits for the serving goroutine.
func (e *endpoint) shutdown(ctx context.Context, log *slog.Logger) {
	if err := e.http.Shutdown(ctx); err != nil {
		log.Warn("http drain cut short", slog.String("listener", e.name), slog.Any("error", err))
		_ = e.http.Close()
	}
	<-e.done
}
