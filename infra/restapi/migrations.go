package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// MigrationStartBody is the body of POST /api/v1/migrations (schema
// MigrationStart): one JSON object, nothing after it; an empty body takes
// every default. The bounds are migrate.Spec's (concurrency 1 to
// migrate.MaxConcurrency, canary 0 to migrate.MaxCanary, cpu_threshold
// above 0 to 100, lag_threshold 0 to migrate.MaxLagThreshold); a value
// outside them is 422, malformed JSON 400.
//
// An Idempotency-Key header makes retries start one run
// (migrate.Runner.StartOnce): a repeat with the same body answers 202 with
// the first run, "duplicate": true; a repeat with another body answers 422
// and starts nothing.
type MigrationStartBody struct {
	Tenants      []string `json:"tenants,omitempty"`
	Instance     string   `json:"instance,omitempty"`
	Version      int64    `json:"version,omitempty"`
	Concurrency  int      `json:"concurrency,omitempty"`
	Canary       int      `json:"canary,omitempty"`
	CPUThreshold float64  `json:"cpu_threshold,omitempty"`
	// LagThreshold is a Go duration such as "10s".
	LagThreshold string `json:"lag_threshold,omitempty"`
}

// migrationURL is where a run is read.
func migrationURL(id int64) string { return "/api/v1/migrations/" + strconv.FormatInt(id, 10) }

// startMigration serves POST /api/v1/migrations: 202 with the run's URL
// (also in Location).
func (a *API) startMigration(w http.ResponseWriter, r *http.Request) {
	var body MigrationStartBody
	if err := a.decodeBody(w, r, &body, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	spec := migrate.Spec{Tenants: body.Tenants, Instance: body.Instance, Version: body.Version,
		Concurrency: body.Concurrency, Canary: body.Canary, CPUThreshold: body.CPUThreshold,
		RequestedBy: actor(r, "")}
	if body.LagThreshold != "" {
		lag, err := time.ParseDuration(body.LagThreshold)
		if err != nil {
			a.writeError(w, r, badRequest(fmt.Sprintf("lag_threshold %q: not a duration such as 10s", body.LagThreshold)))
			return
		}
		spec.LagThreshold = lag
	}
	st, err := a.cfg.Migrations.StartOnce(r.Context(), r.Header.Get(HeaderIdempotencyKey), spec)
	if err != nil && st.ID == 0 {
		a.writeError(w, r, err)
		return
	}
	if err != nil {
		// Recorded, not all enqueued: the run exists and its reconciler
		// enqueues the rest, so the answer is 202; the log says why.
		a.logFailure(r, http.StatusInternalServerError, fmt.Errorf("run %d recorded, enqueue incomplete: %w", st.ID, err))
	}
	if !st.Duplicate {
		a.audit(r, controlplane.AuditEntry{Actor: spec.RequestedBy, Action: "migration.start",
			Details: map[string]any{"run": st.ID, "tenants": len(spec.Tenants), "instance": spec.Instance, "version": spec.Version}})
	}
	url := migrationURL(st.ID)
	w.Header().Set("Location", url)
	httpapi.WriteJSON(w, http.StatusAccepted, MigrationStartedJSON{ID: st.ID, Status: string(st.Status), URL: url, Duplicate: st.Duplicate})
}

// getMigration serves GET /api/v1/migrations/{id}; with
// ?view=progress, the run and its counts only, without the per-tenant
// results (cheap enough to poll for a progress bar).
func (a *API) getMigration(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "run")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	switch r.URL.Query().Get("view") {
	case "":
		a.writeRun(w, r, id)
	case "progress":
		st, err := a.cfg.Migrations.Progress(r.Context(), id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, MigrationRunView(st))
	default:
		a.writeError(w, r, badRequest("view must be progress, or absent"))
	}
}

// latestMigration serves GET /api/v1/migrations/latest.
func (a *API) latestMigration(w http.ResponseWriter, r *http.Request) {
	id, err := a.cfg.Migrations.LatestRun(r.Context())
	if errors.Is(err, migrate.ErrRunNotFound) {
		err = describe(err, "no migration run yet")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRun(w, r, id)
}

// writeRun answers run id with every tenant's result.
func (a *API) writeRun(w http.ResponseWriter, r *http.Request, id int64) {
	st, err := a.cfg.Migrations.Status(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, MigrationRunView(st))
}

// retryMigration serves POST /api/v1/migrations/{id}/retry: the failed
// tenants of a finished run go round again, 202 with how many.
func (a *API) retryMigration(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "run")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	n, err := a.cfg.Migrations.Retry(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: actor(r, ""), Action: "migration.retry",
		Details: map[string]any{"run": id, "retried": n}})
	httpapi.WriteJSON(w, http.StatusAccepted, MigrationRetriedJSON{ID: id, Retried: n})
}
