package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	GetRecommendation(ctx context.Context, id int64) (controlplane.Recommendation, error)
	SetRecommendationStatus(ctx context.Context, id int64, status, reason string, runID *int64) (controlplane.Recommendation, error)
	SettleRecommendationsOfRun(ctx context.Context, runID int64) error
}

// CostApply rolls a recommendation out or dismisses it (cost.Applier).
type CostApply interface {
	Apply(ctx context.Context, id int64, requestedBy string) (cost.Applied, error)
	Dismiss(ctx context.Context, id int64, by string) (controlplane.Recommendation, error)
}

// CostAnalyze queues an analysis now (cost.Requester).
type CostAnalyze interface {
	RequestAnalysis(ctx context.Context, requestedBy string) (cost.Requested, error)
	Status(ctx context.Context) (cost.AnalysisStatus, error)
}

// CostAnalysisQueuedJSON answers POST /api/v1/cost/analyze (schema
// CostAnalysisQueued): the queued cost:analyze task, and the report it
// will follow (GET /api/v1/cost shows a larger id once it is done).
type CostAnalysisQueuedJSON struct {
	TaskID        string `json:"task_id"`
	Queue         string `json:"queue"`
	Duplicate     bool   `json:"duplicate"`
	AfterReportID int64  `json:"after_report_id"`
	ReportURL     string `json:"report_url"`
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
	// Replica is what add_replica or remove_replica did (no run then).
	Replica *cost.ReplicaApplied `json:"replica,omitempty"`
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
		out.Recommendations = append(out.Recommendations, RecommendationView(r))
	}
	return out
}

// RecommendationView converts one recommendation.
func RecommendationView(r controlplane.Recommendation) RecommendationJSON {
	ev := map[string]any{}
	_ = json.Unmarshal(r.Evidence, &ev)
	return RecommendationJSON{
		ID: r.ID, Kind: r.Kind, Status: r.Status, Tenants: nonNil(r.Tenants), Statement: r.Statement,
		CostBefore: r.CostBefore, CostAfter: r.CostAfter, MonthlySavingUSD: r.MonthlySavingUSD, Evidence: ev,
		MigrationRunID: r.MigrationRunID, StatusReason: r.StatusReason, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// getRecommendation serves GET /api/v1/recommendations/{id}. An open
// recommendation whose rollout run has finished is settled first (its
// result recorded, applied when the run succeeded; idempotent), so a
// caller that waited for the run reads the outcome, not a race with the
// worker that closed it.
func (a *API) getRecommendation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "recommendation")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rec, err := a.cfg.Cost.GetRecommendation(r.Context(), id)
	if err == nil && rec.Status == controlplane.RecommendationOpen && rec.MigrationRunID != nil {
		if err = a.cfg.Cost.SettleRecommendationsOfRun(r.Context(), *rec.MigrationRunID); err == nil {
			rec, err = a.cfg.Cost.GetRecommendation(r.Context(), id)
		}
	}
	if errors.Is(err, controlplane.ErrRecommendationNotFound) {
		err = describe(err, fmt.Sprintf("recommendation %d not found", id))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, RecommendationView(rec))
}

// dismissRecommendation serves POST /api/v1/recommendations/{id}/dismiss:
// 200 with the recommendation; 404 for an unknown id, 409 when it is not
// open. The body, if any, must be an empty JSON object.
func (a *API) dismissRecommendation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "recommendation")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.decodeBody(w, r, &struct{}{}, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	by := actor(r, "")
	rec, err := a.cfg.CostApply.Dismiss(r.Context(), id, by)
	switch {
	case errors.Is(err, controlplane.ErrRecommendationNotOpen):
		err = describe(err, fmt.Sprintf("recommendation %d is not open", id))
	case errors.Is(err, controlplane.ErrRecommendationNotFound):
		err = describe(err, fmt.Sprintf("recommendation %d not found", id))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "recommendation.dismiss",
		Details: map[string]any{"recommendation": rec.ID}})
	a.audit(r, controlplane.AuditEntry{Actor: by, Action: "recommendation.dismiss",
		Details: map[string]any{"recommendation": rec.ID}})
	httpapi.WriteJSON(w, http.StatusOK, RecommendationView(rec))
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
	out := RecommendationAppliedJSON{ID: res.RecommendationID, RunID: res.RunID, Statement: res.Statement,
		Tenants: nonNil(res.Tenants), Duplicate: res.Duplicate, Replica: res.Replica}
	if res.RunID != 0 {
		out.RunURL = migrationURL(res.RunID)
	}
	httpapi.WriteJSON(w, http.StatusAccepted, out)
}

// requestAnalysis serves POST /api/v1/cost/analyze: 202 with the
// cost:analyze task a worker runs; while one is queued or running a second
// request queues nothing and answers duplicate. 422 for an X-Requested-By
// that is not plain text of at most 200 characters.
func (a *API) requestAnalysis(w http.ResponseWriter, r *http.Request) {
	res, err := a.cfg.CostAnalyze.RequestAnalysis(r.Context(), actor(r, ""))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, CostAnalysisQueuedJSON{TaskID: res.TaskID, Queue: res.Queue,
		Duplicate: res.Duplicate, AfterReportID: res.AfterReportID, ReportURL: "/api/v1/cost"})
}

// analysisStatus serves GET /api/v1/cost/analyze: the requested analysis's
// task state and the newest report's id (cost.AnalysisStatus), what
// `fleet cost analyze --wait` polls.
func (a *API) analysisStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.cfg.CostAnalyze.Status(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}
