package restapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Handlers serves the catalog resources.
type Handlers struct {
	catalog *controlplane.Store
}

// New returns handlers reading catalog.
func New(catalog *controlplane.Store) *Handlers { return &Handlers{catalog: catalog} }

// Register mounts the resources behind the API token:
// GET /api/v1/tenants, GET /api/v1/tenants/{id}, GET /api/v1/instances.
func (h *Handlers) Register(srv *httpapi.Server) {
	srv.HandleAPI("GET /api/v1/tenants", http.HandlerFunc(h.listTenants))
	srv.HandleAPI("GET /api/v1/tenants/{id}", http.HandlerFunc(h.getTenant))
	srv.HandleAPI("GET /api/v1/instances", http.HandlerFunc(h.listInstances))
}

// TenantFilterFrom reads and validates list filters (status, tier,
// instance) from query parameters or CLI flags.
func TenantFilterFrom(status, tier, instance string) (controlplane.TenantFilter, error) {
	f := controlplane.TenantFilter{Status: tenants.TenantStatus(status), Tier: tenants.Tier(tier), InstanceID: instance}
	switch f.Status {
	case "", tenants.TenantPending, tenants.TenantProvisioning, tenants.TenantActive,
		tenants.TenantFailed, tenants.TenantOffboarding, tenants.TenantOffboarded:
	default:
		return f, errors.New("status must be one of pending, provisioning, active, failed, offboarding, offboarded")
	}
	switch f.Tier {
	case "", tenants.Shared, tenants.Dedicated:
	default:
		return f, errors.New("tier must be shared or dedicated")
	}
	if len(instance) > 128 {
		return f, errors.New("instance is too long")
	}
	return f, nil
}

func (h *Handlers) listTenants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := TenantFilterFrom(q.Get("status"), q.Get("tier"), q.Get("instance"))
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := h.catalog.ListTenants(r.Context(), f)
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "listing tenants failed")
		return
	}
	out := make([]TenantJSON, 0, len(list))
	for _, t := range list {
		out = append(out, TenantView(t))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (h *Handlers) getTenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := tenants.ValidateID(id); err != nil {
		httpapi.WriteError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	t, err := h.catalog.GetTenant(r.Context(), id)
	if errors.Is(err, tenants.ErrTenantNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "no tenant "+id)
		return
	}
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "reading the tenant failed")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, TenantView(t))
}

func (h *Handlers) listInstances(w http.ResponseWriter, r *http.Request) {
	out, err := InstanceViews(r.Context(), h.catalog)
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "listing instances failed")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"instances": out})
}

// InstanceViews lists every instance with its tenant count.
func InstanceViews(ctx context.Context, catalog *controlplane.Store) ([]InstanceJSON, error) {
	list, err := catalog.ListInstances(ctx, controlplane.InstanceFilter{})
	if err != nil {
		return nil, err
	}
	counts, err := catalog.CountTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]InstanceJSON, 0, len(list))
	for _, i := range list {
		out = append(out, InstanceView(i, counts[i.ID]))
	}
	return out, nil
}
