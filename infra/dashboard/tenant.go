package dashboard

import (
	"errors"
	"net/http"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// StepRow is one step of the onboarding saga on the tenant page.
type StepRow struct {
	Name string
	Done bool
}

// TenantMigration is one run's result for the tenant.
type TenantMigration struct {
	RunID     int64
	RunStatus string
	migrate.TenantResult
}

type tenantData struct {
	Row        TenantRow
	PoolsRead  bool
	Onboarding *controlplane.Onboarding
	Steps      []StepRow
	Tasks      []TaskRow
	Migrations []TenantMigration
	Alerts     []alerts.Alert
	Recs       []restapi.RecommendationJSON
	Audit      []controlplane.AuditRecord
}

// tenantRuns is how many of the latest migration runs the tenant page
// looks through for the tenant's results.
const tenantRuns = 10

func (d *Dashboard) tenantDetail(r *http.Request) (string, string, any, error) {
	id := r.PathValue("id")
	if err := tenants.ValidateID(id); err != nil {
		return "", "", nil, badParam("%s", err.Error())
	}
	if len(r.URL.Query()) > 0 {
		return "", "", nil, badParam("the tenant page takes no query parameters")
	}
	ctx := r.Context()
	rows, poolsRead, _, err := d.tenantRows(ctx, controlplane.TenantFilter{}, id)
	if errors.Is(err, tenants.ErrTenantNotFound) {
		return "", "", nil, notFound("tenant %s not found", id)
	}
	if err != nil {
		return "", "", nil, err
	}
	out := tenantData{Row: rows[0], PoolsRead: poolsRead}
	ob, err := d.cfg.Store.GetOnboarding(ctx, id)
	switch {
	case err == nil:
		out.Onboarding = &ob
		reached := slices.Index(provision.Steps, ob.Step)
		for i, s := range provision.Steps {
			out.Steps = append(out.Steps, StepRow{Name: s, Done: i <= reached})
		}
	case !errors.Is(err, controlplane.ErrNoOnboarding):
		return "", "", nil, err
	}
	out.Tasks = d.tenantTasks(id)
	runs, err := d.cfg.Store.RecentMigrationRuns(ctx, tenantRuns)
	if err != nil {
		return "", "", nil, err
	}
	for _, run := range runs {
		st, err := d.cfg.Migrations.Status(ctx, run.ID)
		if err != nil {
			return "", "", nil, err
		}
		for _, t := range st.Tenants {
			if t.TenantID == id {
				out.Migrations = append(out.Migrations, TenantMigration{RunID: run.ID, RunStatus: string(st.Status), TenantResult: t})
			}
		}
	}
	if out.Alerts, err = d.cfg.Alerts.List(ctx, alerts.ListFilter{Subject: id, Limit: 20}); err != nil {
		return "", "", nil, err
	}
	recs, err := d.cfg.Store.ListRecommendations(ctx, controlplane.RecommendationFilter{TenantID: id})
	if err != nil {
		return "", "", nil, err
	}
	out.Recs = restapi.RecommendationsJSON(recs).Recommendations
	if out.Audit, err = d.cfg.Store.ListAudit(ctx, controlplane.AuditFilter{TenantID: id, Limit: 50}); err != nil {
		return "", "", nil, err
	}
	return "tenant", "Tenant " + id, out, nil
}
