package restapi

import (
	"errors"
	"net/http"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// OnboardRequestBody is the body of POST /api/v1/tenants (schema
// OnboardRequest). Unknown fields are refused, to catch typos; the intake
// validates the values (422 naming the field).
type OnboardRequestBody struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	// Isolation is "pooled" (default) or "strict".
	Isolation string `json:"isolation"`
	// Restore re-onboards an offboarded tenant with its archived schema.
	Restore bool `json:"restore"`
}

// submitOnboarding serves POST /api/v1/tenants: store the request in the
// intake outbox and enqueue its task, 202. The requester is the
// authenticated principal, with X-Requested-By after it (see actor); an
// Idempotency-Key makes retries collapse into one request.
func (a *API) submitOnboarding(w http.ResponseWriter, r *http.Request) {
	var body OnboardRequestBody
	if err := a.decodeBody(w, r, &body, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	acc, err := a.cfg.Onboarding.Submit(r.Context(), intake.Request{
		Source: intakeSource(r), TenantID: body.TenantID, Name: body.Name, Tier: tenants.Tier(body.Tier),
		Isolation: tenants.Isolation(body.Isolation), Restore: body.Restore, RequestedBy: actor(r, ""), DeliveryID: r.Header.Get(HeaderIdempotencyKey),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, OnboardingAcceptedView(acc))
}

// getOnboarding serves GET /api/v1/intake/{id}, for callers that wait on
// a request.
func (a *API) getOnboarding(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "request")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rec, err := a.cfg.Onboarding.Get(r.Context(), id)
	if errors.Is(err, intake.ErrNotFound) {
		err = describe(err, "no such request")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, OnboardingView(rec))
}

// retryOnboarding serves POST /api/v1/tenants/{id}/retry: a failed
// tenant's onboarding goes round again, 202 with the new task id; 404 for
// an unknown tenant, 409 when it has not failed. The body, if any, must be
// an empty JSON object.
func (a *API) retryOnboarding(w http.ResponseWriter, r *http.Request) {
	if err := a.decodeBody(w, r, &struct{}{}, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	acc, err := a.cfg.Onboarding.Retry(r.Context(), r.PathValue("id"), actor(r, ""))
	if errors.Is(err, intake.ErrNotFound) {
		err = describe(err, "no such tenant")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, OnboardingAcceptedView(acc))
}
