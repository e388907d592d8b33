package restapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// OffboardRequestBody is the optional body of POST
// /api/v1/tenants/{id}/offboard (schema OffboardRequest); no body archives
// the tenant's schema.
type OffboardRequestBody struct {
	// Drop deletes the tenant's schema, its archives, its role (and a
	// dedicated tenant's instance) instead of archiving the schema.
	Drop bool `json:"drop"`
}

// offboardingURL is where an offboarding request is read.
func offboardingURL(id int64) string { return "/api/v1/offboardings/" + strconv.FormatInt(id, 10) }

// offboard serves POST /api/v1/tenants/{id}/offboard.
func (a *API) offboard(w http.ResponseWriter, r *http.Request) {
	var body OffboardRequestBody
	if err := a.decodeBody(w, r, &body, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	action := offboard.ActionArchive
	if body.Drop {
		action = offboard.ActionDrop
	}
	a.submitOffboarding(w, r, action)
}

// purge serves POST /api/v1/tenants/{id}/purge; the body, if any, must be
// an empty JSON object.
func (a *API) purge(w http.ResponseWriter, r *http.Request) {
	if err := a.decodeBody(w, r, &struct{}{}, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.submitOffboarding(w, r, offboard.ActionPurge)
}

// submitOffboarding stores and enqueues the request, 202 with its URL.
func (a *API) submitOffboarding(w http.ResponseWriter, r *http.Request, action offboard.Action) {
	id := r.PathValue("id")
	acc, err := a.cfg.Offboarding.Submit(r.Context(), offboard.Request{TenantID: id, Action: action, RequestedBy: actor(r, "")})
	if errors.Is(err, tenants.ErrTenantNotFound) {
		err = describe(err, "no tenant "+id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, OffboardingAcceptedView(acc))
}

// getOffboarding serves GET /api/v1/offboardings/{id}.
func (a *API) getOffboarding(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "request")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rec, err := a.cfg.Offboarding.Get(r.Context(), id)
	if errors.Is(err, offboard.ErrNotFound) {
		err = describe(err, "no such request")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, OffboardingView(rec))
}
