package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Routes mounted by RegisterRoutes, all behind the API token.
const (
	RouteList     = "GET /api/v1/alerts"
	RouteGet      = "GET /api/v1/alerts/{id}"
	RouteAck      = "POST /api/v1/alerts/{id}/ack"
	RouteSilences = "GET /api/v1/silences"
	RouteSilence  = "POST /api/v1/silences"
)

// maxBodyBytes bounds a POST body.
const maxBodyBytes = 64 << 10

// maxListLimit bounds ?limit=.
const maxListLimit = 1000

// ListResponse is the body of GET /api/v1/alerts.
type ListResponse struct {
	Alerts []Alert `json:"alerts"`
}

// SilencesResponse is the body of GET /api/v1/silences.
type SilencesResponse struct {
	Silences []Silence `json:"silences"`
}

// AckRequest is the optional body of POST /api/v1/alerts/{id}/ack; By
// defaults to the X-Requested-By header, then "api".
type AckRequest struct {
	By string `json:"by,omitempty"`
}

// SilenceRequest is the body of POST /api/v1/silences. Duration is a Go
// duration ("2h", "30m"), 1s to MaxSilence.
type SilenceRequest struct {
	Subject  string `json:"subject"`
	Kind     Kind   `json:"kind,omitempty"`
	Duration string `json:"duration"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// RegisterRoutes mounts the alerts API on srv: list (?status=open|all,
// ?kind=, ?subject=, ?limit=), one alert, acknowledge, list and create
// silences. The JSON is the same as `fleet alerts ... --json`.
func (e *Engine) RegisterRoutes(srv *httpapi.Server) {
	srv.HandleAPI(RouteList, http.HandlerFunc(e.serveList))
	srv.HandleAPI(RouteGet, http.HandlerFunc(e.serveGet))
	srv.HandleAPI(RouteAck, http.HandlerFunc(e.serveAck))
	srv.HandleAPI(RouteSilences, http.HandlerFunc(e.serveSilences))
	srv.HandleAPI(RouteSilence, http.HandlerFunc(e.serveSilence))
}

func (e *Engine) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ListFilter{Kind: q.Get("kind"), Subject: q.Get("subject")}
	switch q.Get("status") {
	case "", "open", StatusFiring:
		f.OpenOnly = true
	case "all":
	default:
		httpapi.WriteError(w, http.StatusBadRequest, "status must be open or all")
		return
	}
	if f.Kind != "" {
		if err := Kind(f.Kind).validate(); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if err := validateSubject("subject", f.Subject, false); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxListLimit {
			httpapi.WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", maxListLimit))
			return
		}
		f.Limit = n
	}
	list, err := e.List(r.Context(), f)
	if err != nil {
		e.internal(w, r, "list alerts", err)
		return
	}
	if list == nil {
		list = []Alert{}
	}
	httpapi.WriteJSON(w, http.StatusOK, ListResponse{Alerts: list})
}

func (e *Engine) serveGet(w http.ResponseWriter, r *http.Request) {
	id, ok := alertID(w, r)
	if !ok {
		return
	}
	a, err := e.Get(r.Context(), id)
	if errors.Is(err, controlplane.ErrAlertNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, fmt.Sprintf("alert %d not found", id))
		return
	}
	if err != nil {
		e.internal(w, r, "get alert", err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}

func (e *Engine) serveAck(w http.ResponseWriter, r *http.Request) {
	id, ok := alertID(w, r)
	if !ok {
		return
	}
	var in AckRequest
	if !readBody(w, r, &in, true) {
		return
	}
	by := firstNonEmpty(in.By, r.Header.Get("X-Requested-By"), "api")
	a, err := e.Ack(r.Context(), id, by)
	switch {
	case errors.Is(err, controlplane.ErrAlertNotFound):
		httpapi.WriteError(w, http.StatusNotFound, fmt.Sprintf("alert %d is not open", id))
	case errors.Is(err, ErrInvalid):
		httpapi.WriteError(w, http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		e.internal(w, r, "acknowledge alert", err)
	default:
		httpapi.WriteJSON(w, http.StatusOK, a)
	}
}

func (e *Engine) serveSilences(w http.ResponseWriter, r *http.Request) {
	list, err := e.Silences(r.Context())
	if err != nil {
		e.internal(w, r, "list silences", err)
		return
	}
	if list == nil {
		list = []Silence{}
	}
	httpapi.WriteJSON(w, http.StatusOK, SilencesResponse{Silences: list})
}

func (e *Engine) serveSilence(w http.ResponseWriter, r *http.Request) {
	var in SilenceRequest
	if !readBody(w, r, &in, false) {
		return
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil {
		httpapi.WriteError(w, http.StatusUnprocessableEntity, "duration must be a duration such as 2h or 30m")
		return
	}
	by := firstNonEmpty(in.By, r.Header.Get("X-Requested-By"), "api")
	s, err := e.Silence(r.Context(), in.Subject, in.Kind, d, in.Reason, by)
	switch {
	case errors.Is(err, ErrInvalid):
		httpapi.WriteError(w, http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		e.internal(w, r, "create silence", err)
	default:
		httpapi.WriteJSON(w, http.StatusCreated, s)
	}
}

func alertID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "alert id must be a positive integer")
		return 0, false
	}
	return id, true
}

// readBody decodes a JSON object body into v; optional bodies may be empty.
func readBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpapi.WriteError(w, http.StatusRequestEntityTooLarge, "body too large")
		return false
	case err != nil:
		httpapi.WriteError(w, http.StatusBadRequest, "could not read the body")
		return false
	case optional && len(bytes.TrimSpace(body)) == 0:
		return true
	}
	if err := httpapi.DecodeJSON(body, v); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (e *Engine) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	e.cfg.Logger.ErrorContext(r.Context(), what, slog.String("error", err.Error()))
	httpapi.WriteError(w, http.StatusInternalServerError, "could not "+what)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
