package restapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Isolation changes an active tenant's isolation level (*provision.Agent).
type Isolation interface {
	SetIsolation(ctx context.Context, id string, level tenants.Isolation, actor string) (controlplane.Tenant, error)
}

// IsolationRequestBody is the body of POST /api/v1/tenants/{id}/isolation
// (schema IsolationRequest).
type IsolationRequestBody struct {
	// Isolation is "pooled" or "strict".
	Isolation string `json:"isolation"`
}

// setIsolation serves POST /api/v1/tenants/{id}/isolation: 200 with the
// tenant; 404 for an unknown tenant, 409 when it is not active, 422 for a
// level that is neither pooled nor strict. The change is audited.
func (a *API) setIsolation(w http.ResponseWriter, r *http.Request) {
	var body IsolationRequestBody
	if err := a.decodeBody(w, r, &body, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := tenants.ValidateID(id); err != nil {
		a.writeError(w, r, err)
		return
	}
	level, err := tenants.ParseIsolation(body.Isolation)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.cfg.Isolation.SetIsolation(r.Context(), id, level, actor(r, ""))
	if errors.Is(err, tenants.ErrTenantNotFound) {
		err = describe(err, "no tenant "+id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, TenantView(t))
}
