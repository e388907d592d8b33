package dashboard

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// RecView is one recommendation as /api/v1 shows it, with a create_index
// one's evidence decoded for its table.
type RecView struct {
	restapi.RecommendationJSON
	Index *cost.IndexEvidence
}

type costData struct {
	Status string
	Recs   []RecView
	// Report is the latest analysis; HasReport is false before the first.
	Report    cost.Report
	HasReport bool
	// TopTenants are the report's tenants by monthly cost, at most
	// costTenants of them.
	TopTenants  []cost.TenantUsage
	MoreTenants int
}

// costTenants bounds the tenants the cost table lists.
const costTenants = 50

func (d *Dashboard) costPage(r *http.Request) (string, string, any, error) {
	q := r.URL.Query()
	for k, vals := range q {
		if k != "status" || len(vals) != 1 {
			return "", "", nil, badParam("the cost page takes one parameter, status")
		}
	}
	out := costData{Status: q.Get("status")}
	switch out.Status {
	case "", controlplane.RecommendationOpen, controlplane.RecommendationApplied, controlplane.RecommendationDismissed:
	default:
		return "", "", nil, badParam("status must be open, applied or dismissed")
	}
	ctx := r.Context()
	recs, err := d.cfg.Store.ListRecommendations(ctx, controlplane.RecommendationFilter{Status: out.Status})
	if err != nil {
		return "", "", nil, err
	}
	for i, v := range restapi.RecommendationsJSON(recs).Recommendations {
		rv := RecView{RecommendationJSON: v}
		var ev cost.IndexEvidence
		if v.Kind == cost.KindCreateIndex && json.Unmarshal(recs[i].Evidence, &ev) == nil {
			rv.Index = &ev
		}
		out.Recs = append(out.Recs, rv)
	}
	if out.Report, out.HasReport, err = d.latestReport(ctx); err != nil {
		return "", "", nil, err
	}
	out.TopTenants = slices.Clone(out.Report.Tenants)
	slices.SortFunc(out.TopTenants, func(a, b cost.TenantUsage) int { return cmp.Compare(b.MonthlyUSD, a.MonthlyUSD) })
	if len(out.TopTenants) > costTenants {
		out.MoreTenants = len(out.TopTenants) - costTenants
		out.TopTenants = out.TopTenants[:costTenants]
	}
	return "cost", "Cost", out, nil
}
