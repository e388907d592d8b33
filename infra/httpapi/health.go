package httpapi

import (
	"context"
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
// answer, 503 with each failure's reason otherwise.
func readyz(checks []Check) http.HandlerFunc {
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
					status = err.Error()
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
