package restapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

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

// TenantViews lists the tenants matching f in their JSON form.
func TenantViews(ctx context.Context, catalog Catalog, f controlplane.TenantFilter) ([]TenantJSON, error) {
	list, err := catalog.ListTenants(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]TenantJSON, 0, len(list))
	for _, t := range list {
		out = append(out, TenantView(t))
	}
	return out, nil
}

// InstanceViews lists every instance with its tenant count.
func InstanceViews(ctx context.Context, catalog Catalog) ([]InstanceJSON, error) {
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

// listTenants serves GET /api/v1/tenants?status=&tier=&instance=.
func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := TenantFilterFrom(q.Get("status"), q.Get("tier"), q.Get("instance"))
	if err != nil {
		a.writeError(w, r, describe(errBadRequest, err.Error()))
		return
	}
	list, err := TenantViews(r.Context(), a.cfg.Catalog, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, TenantListJSON{Tenants: list})
}

// getTenant serves GET /api/v1/tenants/{id}.
func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := tenants.ValidateID(id); err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.cfg.Catalog.GetTenant(r.Context(), id)
	if errors.Is(err, tenants.ErrTenantNotFound) {
		err = describe(err, "no tenant "+id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, TenantView(t))
}

// listInstances serves GET /api/v1/instances.
func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	list, err := InstanceViews(r.Context(), a.cfg.Catalog)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, InstanceListJSON{Instances: list})
}
