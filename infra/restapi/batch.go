package restapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Batch reads the tenants' batch slots and recorded runs: *batch.Agent
// for Upcoming and *controlplane.Store for ListBatchRuns, joined by
// BatchSource.
type Batch interface {
	Upcoming(ctx context.Context, tenantID string, now time.Time) ([]batch.Upcoming, error)
	ListBatchRuns(ctx context.Context, f controlplane.BatchRunFilter) ([]controlplane.BatchRun, error)
}

// BatchSource joins the batch agent and the store into a Batch.
type BatchSource struct {
	*batch.Agent
	*controlplane.Store
}

// MaxBatchRunsLimit bounds ?limit= of GET /api/v1/batch/runs.
const MaxBatchRunsLimit = 1000

// BatchUpcomingListJSON answers GET /api/v1/batch (schema
// BatchUpcomingList); `fleet batch list --json` prints its list.
type BatchUpcomingListJSON struct {
	Upcoming []batch.Upcoming `json:"upcoming"`
}

// BatchRunListJSON answers GET /api/v1/batch/runs (schema BatchRunList);
// `fleet batch runs --json` prints its list.
type BatchRunListJSON struct {
	Runs []controlplane.BatchRun `json:"runs"`
}

// tenantQuery reads an optional ?tenant= (else 400).
func tenantQuery(r *http.Request) (string, error) {
	id := r.URL.Query().Get("tenant")
	if id == "" {
		return "", nil
	}
	if err := tenants.ValidateID(id); err != nil {
		return "", badRequest("tenant: " + err.Error())
	}
	return id, nil
}

// listBatch serves GET /api/v1/batch?tenant=: each active tenant's slot
// and next run per job kind; 404 for an unknown tenant.
func (a *API) listBatch(w http.ResponseWriter, r *http.Request) {
	tenant, err := tenantQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, err := a.cfg.Batch.Upcoming(r.Context(), tenant, time.Now())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, BatchUpcomingListJSON{Upcoming: nonNil(list)})
}

// listBatchRuns serves GET /api/v1/batch/runs?tenant=&kind=&limit=
// (default 50): the recorded runs, latest first.
func (a *API) listBatchRuns(w http.ResponseWriter, r *http.Request) {
	tenant, err := tenantQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := controlplane.BatchRunFilter{TenantID: tenant, Kind: q.Get("kind"), Limit: 50}
	if f.Kind != "" && !queue.ValidBatchKind(f.Kind) {
		a.writeError(w, r, badRequest("kind is not a job kind name"))
		return
	}
	if raw := q.Get("limit"); raw != "" {
		if f.Limit, err = strconv.Atoi(raw); err != nil || f.Limit < 1 || f.Limit > MaxBatchRunsLimit {
			a.writeError(w, r, badRequest("limit must be between 1 and "+strconv.Itoa(MaxBatchRunsLimit)))
			return
		}
	}
	runs, err := a.cfg.Batch.ListBatchRuns(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, BatchRunListJSON{Runs: nonNil(runs)})
}
