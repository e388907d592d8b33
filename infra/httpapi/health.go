package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness dependency, such as Postgres or Redis.
type Check struct {
	// Name names the dependency in the /readyz answer.
	Name string
	// Probe returns nil when the dependency answers.
	Probe func(ctx context.Context) error
}

// checkTimeout bounds each readiness probe.
const checkTimeout = 2 * time.Second

// healthz answers 200 while the process serves HTTP at all.
func healthz(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz probes every dependency in parallel and answers 200 when all
// answer, 503 otherwise. A failed check reads "unavailable" and its error
// goes to the log; with detail, the answer carries the error text itself
// (driver errors name hosts, users and databases: debug only).
func readyz(checks []Check, detail bool, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		results := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				status := "ok"
				if err := c.Probe(ctx); err != nil {
					log.WarnContext(ctx, "readiness check failed", slog.String("check", c.Name), slog.Any("error", err))
					status = "unavailable"
					if detail {
						status = err.Error()
					}
				}
				mu.Lock()
				results[c.Name] = status
				mu.Unlock()
			})
		}
		wg.Wait()
		code, overall := http.StatusOK, "ready"
		for _, s := range results {
			if s != "ok" {
				code, overall = http.StatusServiceUnavailable, "not ready"
			}
		}
		WriteJSON(w, code, map[string]any{"status": overall, "checks": results})
	}
}
