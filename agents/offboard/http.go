package offboard

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Routes mounted by Register, all behind the API token.
const (
	RouteOffboard = "POST /api/v1/tenants/{id}/offboard"
	RoutePurge    = "POST /api/v1/tenants/{id}/purge"
	RouteGet      = "GET /api/v1/offboardings/{id}"
)

// HeaderRequestedBy names the person behind an API request.
const HeaderRequestedBy = "X-Requested-By"

// maxBodyBytes bounds a POST body.
const maxBodyBytes = 64 << 10

// RequestBody is the optional JSON body of POST
// /api/v1/tenants/{id}/offboard; no body archives the tenant's schema.
type RequestBody struct {
	// Drop deletes the tenant's schema, its archives, its role (and a
	// dedicated tenant's instance) instead of archiving the schema.
	Drop bool `json:"drop"`
}

// acceptedJSON answers a POST with 202 and where to follow the request.
type acceptedJSON struct {
	Accepted
	URL string `json:"url"`
}

// Register mounts the offboarding API on srv: offboard a tenant, purge an
// offboarded one, read a request.
func (o *Outbox) Register(srv *httpapi.Server) {
	srv.HandleAPI(RouteOffboard, http.HandlerFunc(o.serveOffboard))
	srv.HandleAPI(RoutePurge, http.HandlerFunc(o.servePurge))
	srv.HandleAPI(RouteGet, http.HandlerFunc(o.serveGet))
}

func (o *Outbox) serveOffboard(w http.ResponseWriter, r *http.Request) {
	var body RequestBody
	if !readBody(w, r, &body) {
		return
	}
	action := ActionArchive
	if body.Drop {
		action = ActionDrop
	}
	o.submit(w, r, action)
}

func (o *Outbox) servePurge(w http.ResponseWriter, r *http.Request) {
	var body struct{}
	if !readBody(w, r, &body) {
		return
	}
	o.submit(w, r, ActionPurge)
}

// readBody decodes an optional JSON object body into v; it answers 413 or
// 400 and reports false when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpapi.WriteError(w, http.StatusRequestEntityTooLarge, "body too large")
		return false
	case err != nil:
		httpapi.WriteError(w, http.StatusBadRequest, "could not read the body")
		return false
	case len(bytes.TrimSpace(body)) == 0:
		return true
	}
	if err := httpapi.DecodeJSON(body, v); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (o *Outbox) submit(w http.ResponseWriter, r *http.Request, action Action) {
	by := r.Header.Get(HeaderRequestedBy)
	if by == "" {
		by = "api"
	}
	acc, err := o.Submit(r.Context(), Request{TenantID: r.PathValue("id"), Action: action, RequestedBy: by})
	switch {
	case errors.Is(err, ErrInvalidRequest):
		httpapi.WriteError(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, tenants.ErrTenantNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no tenant "+r.PathValue("id"))
	case errors.Is(err, ErrConflict):
		httpapi.WriteError(w, http.StatusConflict, err.Error())
	case err != nil:
		o.log.ErrorContext(r.Context(), "offboard request failed", slog.String("action", string(action)), slog.Any("error", err))
		httpapi.WriteError(w, http.StatusInternalServerError, "internal error")
	default:
		httpapi.WriteJSON(w, http.StatusAccepted, acceptedJSON{Accepted: acc, URL: "/api/v1/offboardings/" + strconv.FormatInt(acc.RequestID, 10)})
	}
}

func (o *Outbox) serveGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "request id must be a positive integer")
		return
	}
	rec, err := o.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no such request")
	case err != nil:
		o.log.ErrorContext(r.Context(), "offboard: get request failed", slog.Int64("request_id", id), slog.Any("error", err))
		httpapi.WriteError(w, http.StatusInternalServerError, "internal error")
	default:
		httpapi.WriteJSON(w, http.StatusOK, rec)
	}
}
