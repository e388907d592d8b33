package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Alerts lists, acknowledges and silences alerts (*alerts.Engine).
type Alerts interface {
	List(ctx context.Context, f alerts.ListFilter) ([]alerts.Alert, error)
	Get(ctx context.Context, id int64) (alerts.Alert, error)
	Ack(ctx context.Context, id int64, by string) (alerts.Alert, error)
	Silences(ctx context.Context) ([]alerts.Silence, error)
	Silence(ctx context.Context, subject string, kind alerts.Kind, d time.Duration, reason, by string) (alerts.Silence, error)
}

// AlertListJSON answers GET /api/v1/alerts (schema AlertList). An alert's
// JSON is alerts.Alert's own: the API, the CLI and the webhook sink send
// the same object.
type AlertListJSON struct {
	Alerts []alerts.Alert `json:"alerts"`
}

// SilenceListJSON answers GET /api/v1/silences (schema SilenceList).
type SilenceListJSON struct {
	Silences []alerts.Silence `json:"silences"`
}

// AckRequestBody is the optional body of POST /api/v1/alerts/{id}/ack
// (schema AckRequest); By (default the X-Requested-By header) is who the
// caller acts for, recorded after the authenticated principal (see
// actor).
type AckRequestBody struct {
	By string `json:"by,omitempty"`
}

// SilenceRequestBody is the body of POST /api/v1/silences (schema
// SilenceRequest). Duration is a Go duration ("2h", "30m"), 1s to
// alerts.MaxSilence.
type SilenceRequestBody struct {
	Subject  string      `json:"subject"`
	Kind     alerts.Kind `json:"kind,omitempty"`
	Duration string      `json:"duration"`
	Reason   string      `json:"reason,omitempty"`
	By       string      `json:"by,omitempty"`
}

// listAlerts serves GET /api/v1/alerts: ?status=open (default) or all,
// ?kind=, ?subject=, ?limit= (1 to alerts.MaxListLimit).
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := alerts.ListFilter{Kind: q.Get("kind"), Subject: q.Get("subject")}
	switch q.Get("status") {
	case "", "open", alerts.StatusFiring:
		f.OpenOnly = true
	case "all":
	default:
		a.writeError(w, r, badRequest("status must be open or all"))
		return
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			a.writeError(w, r, badRequest(fmt.Sprintf("limit must be 1 to %d", alerts.MaxListLimit)))
			return
		}
		f.Limit = n
	}
	list, err := a.cfg.Alerts.List(r.Context(), f)
	if errors.Is(err, alerts.ErrInvalid) {
		err = describe(errBadRequest, err.Error()) // a query parameter, not a body: 400
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, AlertListJSON{Alerts: nonNil(list)})
}

// getAlert serves GET /api/v1/alerts/{id}.
func (a *API) getAlert(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "alert")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	al, err := a.cfg.Alerts.Get(r.Context(), id)
	if errors.Is(err, controlplane.ErrAlertNotFound) {
		err = describe(err, fmt.Sprintf("alert %d not found", id))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, al)
}

// ackAlert serves POST /api/v1/alerts/{id}/ack.
func (a *API) ackAlert(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "alert")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body AckRequestBody
	if err := a.decodeBody(w, r, &body, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	by := actor(r, body.By)
	al, err := a.cfg.Alerts.Ack(r.Context(), id, by)
	if errors.Is(err, controlplane.ErrAlertNotFound) {
		err = describe(err, fmt.Sprintf("alert %d is not open", id))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "alert.ack", TenantID: al.Tenant,
		Details: map[string]any{"alert": al.ID, "kind": string(al.Kind), "subject": al.Subject}})
	httpapi.WriteJSON(w, http.StatusOK, al)
}

// listSilences serves GET /api/v1/silences: the active silences.
func (a *API) listSilences(w http.ResponseWriter, r *http.Request) {
	list, err := a.cfg.Alerts.Silences(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, SilenceListJSON{Silences: nonNil(list)})
}

// createSilence serves POST /api/v1/silences: 201 with the silence.
func (a *API) createSilence(w http.ResponseWriter, r *http.Request) {
	var body SilenceRequestBody
	if err := a.decodeBody(w, r, &body, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	d, err := time.ParseDuration(body.Duration)
	if err != nil {
		a.writeError(w, r, describe(alerts.ErrInvalid, "duration must be a duration such as 2h or 30m"))
		return
	}
	by := actor(r, body.By)
	s, err := a.cfg.Alerts.Silence(r.Context(), body.Subject, body.Kind, d, body.Reason, by)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "alert.silence",
		Details: map[string]any{"subject": body.Subject, "kind": string(body.Kind), "duration": d.String()}})
	httpapi.WriteJSON(w, http.StatusCreated, s)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
