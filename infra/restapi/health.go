package restapi

import (
	"context"
	"net/http"
	"regexp"
	"strconv"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Health reads the latest health sweeps (*controlplane.Store).
type Health interface {
	ListInstanceHealth(ctx context.Context, instanceID string) ([]controlplane.InstanceHealth, error)
	ListTenantHealth(ctx context.Context, f controlplane.TenantHealthFilter) ([]controlplane.TenantHealth, error)
	ListDrains(ctx context.Context, instanceID string, limit int) ([]controlplane.Drain, error)
}

// MaxDrains bounds ?drains= of GET /api/v1/health.
const MaxDrains = 1000

// instanceIDPattern is the form of an instance id (the shared instance's,
// or a dedicated tenant's id).
var instanceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidInstanceID reports whether s has the form of an instance id, for
// the edges that take one (query parameters, CLI flags).
func ValidInstanceID(s string) bool { return instanceIDPattern.MatchString(s) }

// HealthJSON answers GET /api/v1/health (schema Health); `fleet health
// --json` prints it.
type HealthJSON struct {
	Instances []controlplane.InstanceHealth `json:"instances"`
	Tenants   []controlplane.TenantHealth   `json:"tenants"`
	Drains    []controlplane.Drain          `json:"drains"`
}

// getHealth serves GET /api/v1/health?instance=&tenant=&drains= (default
// 10): the latest sweep of each instance (or one), its tenants' figures
// (or one tenant's, with its instance's), and the latest sessions the
// sweeps terminated.
func (a *API) getHealth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	instance := q.Get("instance")
	if instance != "" && !ValidInstanceID(instance) {
		a.writeError(w, r, badRequest("instance is not an instance id"))
		return
	}
	tenant, err := tenantQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	drains := 10
	if raw := q.Get("drains"); raw != "" {
		if drains, err = strconv.Atoi(raw); err != nil || drains < 1 || drains > MaxDrains {
			a.writeError(w, r, badRequest("drains must be between 1 and "+strconv.Itoa(MaxDrains)))
			return
		}
	}
	v, err := healthView(r.Context(), a.cfg.Health, instance, tenant, drains)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// healthView reads the health of instance (every one when empty) and of
// tenant (its instance's when instance is empty).
func healthView(ctx context.Context, h Health, instance, tenant string, drains int) (HealthJSON, error) {
	var (
		v   HealthJSON
		err error
	)
	if v.Tenants, err = h.ListTenantHealth(ctx, controlplane.TenantHealthFilter{InstanceID: instance, TenantID: tenant}); err != nil {
		return v, err
	}
	if instance == "" && tenant != "" && len(v.Tenants) > 0 {
		instance = v.Tenants[0].InstanceID
	}
	if v.Instances, err = h.ListInstanceHealth(ctx, instance); err != nil {
		return v, err
	}
	if v.Drains, err = h.ListDrains(ctx, instance, drains); err != nil {
		return v, err
	}
	if tenant != "" {
		kept := v.Drains[:0]
		for _, d := range v.Drains {
			if d.TenantID == tenant {
				kept = append(kept, d)
			}
		}
		v.Drains = kept
	}
	v.Instances, v.Tenants, v.Drains = nonNil(v.Instances), nonNil(v.Tenants), nonNil(v.Drains)
	return v, nil
}
