package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Routes mounted by RegisterRoutes, all behind the API token.
const (
	RouteStart  = "POST /api/v1/migrations"
	RouteLatest = "GET /api/v1/migrations/latest"
	RouteGet    = "GET /api/v1/migrations/{id}"
	RouteRetry  = "POST /api/v1/migrations/{id}/retry"
)

// maxSpecBytes bounds a POST body.
const maxSpecBytes = 1 << 20

// StartRequest is the body of POST /api/v1/migrations: one JSON object
// (Content-Type application/json), nothing after it; an empty body takes
// every default. The bounds are Spec's (concurrency 1 to MaxConcurrency,
// canary 0 to MaxCanary, cpu_threshold above 0 to 100, lag_threshold 0 to
// MaxLagThreshold); a value outside them is 422, malformed JSON 400.
//
// An Idempotency-Key header makes retries start one run (StartOnce): a
// repeat with the same body answers 202 with the first run, "duplicate":
// true; a repeat with another body answers 422 and starts nothing.
type StartRequest struct {
	Tenants      []string `json:"tenants,omitempty"`
	Instance     string   `json:"instance,omitempty"`
	Version      int64    `json:"version,omitempty"`
	Concurrency  int      `json:"concurrency,omitempty"`
	Canary       int      `json:"canary,omitempty"`
	CPUThreshold float64  `json:"cpu_threshold,omitempty"`
	// LagThreshold is a Go duration such as "10s".
	LagThreshold string `json:"lag_threshold,omitempty"`
}

// StartResponse answers POST /api/v1/migrations with 202.
type StartResponse struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	URL    string `json:"url"`
	// Duplicate is true when the request's Idempotency-Key had started
	// this run before: nothing new was started, Status is the run's now.
	Duplicate bool `json:"duplicate"`
}

// RegisterRoutes mounts the migration API on srv: start a run, read a run
// (the same RunStatus as `fleet migrate status --json`), retry its failed
// tenants.
func (r *Runner) RegisterRoutes(srv *httpapi.Server) {
	srv.HandleAPI(RouteStart, http.HandlerFunc(r.serveStart))
	srv.HandleAPI(RouteLatest, http.HandlerFunc(r.serveLatest))
	srv.HandleAPI(RouteGet, http.HandlerFunc(r.serveGet))
	srv.HandleAPI(RouteRetry, http.HandlerFunc(r.serveRetry))
}

func (r *Runner) serveStart(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxSpecBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		httpapi.WriteError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "could not read the body")
		return
	}
	var in StartRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := httpapi.DecodeJSON(body, &in); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	spec := Spec{Tenants: in.Tenants, Instance: in.Instance, Version: in.Version, Concurrency: in.Concurrency,
		Canary: in.Canary, CPUThreshold: in.CPUThreshold, RequestedBy: req.Header.Get("X-Requested-By")}
	if in.LagThreshold != "" {
		if spec.LagThreshold, err = time.ParseDuration(in.LagThreshold); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, fmt.Sprintf("lag_threshold %q: not a duration such as 10s", in.LagThreshold))
			return
		}
	}
	st, err := r.StartOnce(req.Context(), req.Header.Get(HeaderIdempotencyKey), spec)
	id := st.ID
	switch {
	case errors.Is(err, ErrInvalidSpec) || errors.Is(err, ErrNoTenants) || errors.Is(err, ErrIdempotencyKeyReused):
		httpapi.WriteError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil && id == 0:
		r.log.ErrorContext(req.Context(), "start migration run", slog.Any("error", err))
		httpapi.WriteError(w, http.StatusInternalServerError, "could not start the run")
		return
	case err != nil:
		// Recorded, not all enqueued: report it, the run exists.
		r.log.ErrorContext(req.Context(), "start migration run", slog.Int64("run", id), slog.Any("error", err))
	}
	url := "/api/v1/migrations/" + strconv.FormatInt(id, 10)
	w.Header().Set("Location", url)
	httpapi.WriteJSON(w, http.StatusAccepted, StartResponse{ID: id, Status: string(st.Status), URL: url, Duplicate: st.Duplicate})
}

func (r *Runner) serveGet(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "run id must be a positive integer")
		return
	}
	r.writeStatus(w, req, id)
}

func (r *Runner) serveLatest(w http.ResponseWriter, req *http.Request) {
	id, err := r.LatestRun(req.Context())
	if errors.Is(err, ErrRunNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "no migration run yet")
		return
	}
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "could not read runs")
		return
	}
	r.writeStatus(w, req, id)
}

func (r *Runner) writeStatus(w http.ResponseWriter, req *http.Request, id int64) {
	st, err := r.Status(req.Context(), id)
	if errors.Is(err, ErrRunNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		r.log.ErrorContext(req.Context(), "read migration run", "run", id, "error", err)
		httpapi.WriteError(w, http.StatusInternalServerError, "could not read the run")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}

func (r *Runner) serveRetry(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "run id must be a positive integer")
		return
	}
	n, err := r.Retry(req.Context(), id)
	switch {
	case errors.Is(err, ErrRunNotFound):
		httpapi.WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrRunNotFinished):
		httpapi.WriteError(w, http.StatusConflict, err.Error())
	case err != nil:
		r.log.ErrorContext(req.Context(), "retry migration run", "run", id, "error", err)
		httpapi.WriteError(w, http.StatusInternalServerError, "could not retry the run")
	default:
		httpapi.WriteJSON(w, http.StatusAccepted, map[string]any{"id": id, "retried": n})
	}
}
