package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Cost reads the cost agent's recommendations and reports
// (*controlplane.Store).
type Cost interface {
	ListRecommendations(ctx context.Context, f controlplane.RecommendationFilter) ([]controlplane.Recommendation, error)
	LatestCostReport(ctx context.Context) (controlplane.CostReportRow, error)
}

// CostApply rolls a recommendation out or dismisses it (cost.Applier).
type CostApply interface {
	Apply(ctx context.Context, id int64, requestedBy string) (cost.Applied, error)
	Dismiss(ctx context.Context, id int64, by string) (controlplane.Recommendation, error)
}

// RecommendationAppliedJSON answers POST /api/v1/recommendations/{id}/apply
// (schema RecommendationApplied): the migration run building the index.
type RecommendationAppliedJSON struct {
	ID        int64    `json:"id"`
	RunID     int64    `json:"run_id"`
	RunURL    string   `json:"run_url"`
	Statement string   `json:"statement"`
	Tenants   []string `json:"tenants"`
	Duplicate bool     `json:"duplicate"`
}

// RecommendationJSON is one recommendation (schema Recommendation), the
// same object `fleet cost report --json` prints.
type RecommendationJSON struct {
	ID               int64          `json:"id"`
	Kind             string         `json:"kind"`
	Status           string         `json:"status"`
	Tenants          []string       `json:"tenants"`
	Statement        string         `json:"statement"`
	CostBefore       float64        `json:"cost_before"`
	CostAfter        float64        `json:"cost_after"`
	MonthlySavingUSD float64        `json:"monthly_saving_usd"`
	Evidence         map[string]any `json:"evidence"`
	MigrationRunID   *int64         `json:"migration_run_id,omitempty"`
	StatusReason     string         `json:"status_reason"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
}

// RecommendationListJSON answers GET /api/v1/recommendations (schema
// RecommendationList).
type RecommendationListJSON struct {
	Recommendations []RecommendationJSON `json:"recommendations"`
}

// RecommendationsJSON is the view of a list of recommendations.
func RecommendationsJSON(list []controlplane.Recommendation) RecommendationListJSON {
	out := RecommendationListJSON{Recommendations: []RecommendationJSON{}}
	for _, r := range list {
		ev := map[string]any{}
		_ = json.Unmarshal(r.Evidence, &ev)
		out.Recommendations = append(out.Recommendations, RecommendationJSON{
			ID: r.ID, Kind: r.Kind, Status: r.Status, Tenants: nonNil(r.Tenants), Statement: r.Statement,
			CostBefore: r.CostBefore, CostAfter: r.CostAfter, MonthlySavingUSD: r.MonthlySavingUSD, Evidence: ev,
			MigrationRunID: r.MigrationRunID, StatusReason: r.StatusReason, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		})
	}
	return out
}

// CostReportJSON answers GET /api/v1/cost (schema CostReport): the latest
// analysis.
type CostReportJSON struct {
	ID              int64                `json:"id"`
	CreatedAt       time.Time            `json:"created_at"`
	Incomplete      bool                 `json:"incomplete"`
	FleetMonthlyUSD float64              `json:"fleet_monthly_usd"`
	Tenants         []cost.TenantUsage   `json:"tenants"`
	Instances       []cost.InstanceUsage `json:"instances"`
}

// listRecommendations serves GET /api/v1/recommendations: ?status=
// (open, applied, dismissed), ?tenant=.
func (a *API) listRecommendations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := controlplane.RecommendationFilter{Status: q.Get("status"), TenantID: q.Get("tenant")}
	switch f.Status {
	case "", controlplane.RecommendationOpen, controlplane.RecommendationApplied, controlplane.RecommendationDismissed:
	default:
		a.writeError(w, r, badRequest("status must be open, applied or dismissed"))
		return
	}
	if f.TenantID != "" {
		if err := tenants.ValidateID(f.TenantID); err != nil {
			a.writeError(w, r, badRequest(err.Error()))
			return
		}
	}
	list, err := a.cfg.Cost.ListRecommendations(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, RecommendationsJSON(list))
}

// getCost serves GET /api/v1/cost: the latest analysis, 404 before the
// first.
func (a *API) getCost(w http.ResponseWriter, r *http.Request) {
	row, err := a.cfg.Cost.LatestCostReport(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var rep cost.Report
	if err := json.Unmarshal(row.Report, &rep); err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, CostReportJSON{ID: row.ID, CreatedAt: row.CreatedAt, Incomplete: row.Incomplete,
		FleetMonthlyUSD: rep.FleetMonthlyUSD, Tenants: nonNil(rep.Tenants), Instances: nonNil(rep.Instances)})
}

// applyRecommendation serves POST /api/v1/recommendations/{id}/apply: 202
// with the migration run that builds the index in each tenant's schema;
// the recommendation is marked applied when the run succeeds. 404 for an
// unknown id, 409 when it is not open or a run is applying it, 422 for a
// kind apply cannot roll out.
func (a *API) applyRecommendation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "recommendation")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	by := actor(r, "")
	res, err := a.cfg.CostApply.Apply(r.Context(), id, by)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "recommendation.apply",
		Details: map[string]any{"recommendation": res.RecommendationID, "run": res.RunID, "duplicate": res.Duplicate}})
	httpapi.WriteJSON(w, http.StatusAccepted, RecommendationAppliedJSON{ID: res.RecommendationID, RunID: res.RunID,
		RunURL: migrationURL(res.RunID), Statement: res.Statement,
		Tenants: nonNil(res.Tenants), Duplicate: res.Duplicate})
}

// dismissRecommendation serves POST /api/v1/recommendations/{id}/dismiss:
// 200 with the recommendation, now dismissed. 404 for an unknown id, 409
// when it is not open.
func (a *API) dismissRecommendation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "recommendation")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	by := actor(r, "")
	rec, err := a.cfg.CostApply.Dismiss(r.Context(), id, by)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "recommendation.dismiss",
		Details: map[string]any{"recommendation": rec.ID}})
	httpapi.WriteJSON(w, http.StatusOK, RecommendationsJSON([]controlplane.Recommendation{rec}).Recommendations[0])
}
