package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// TenantRow is one line of the tenants table.
type TenantRow struct {
	controlplane.Tenant
	Pool PoolFigures
	// Health is the tenant's latest sweep; Checked is false before one.
	Health  controlplane.TenantHealth
	Checked bool
	// Share and MonthlyUSD come from the latest cost report; Costed is
	// false when it has none for the tenant.
	Share      float64
	MonthlyUSD float64
	Costed     bool
	Slot       int
}

// TenantQuery is the validated query of the tenants table.
type TenantQuery struct {
	Search string
	Filter controlplane.TenantFilter
	Sort   string
	Desc   bool
	Page   int
}

// PageSize is how many tenants one page of the table shows.
const PageSize = 25

// maxSearch bounds the search text.
const maxSearch = 64

// sortKeys are the table's sortable columns.
var sortKeys = []string{"id", "name", "tier", "instance", "status", "inflight", "waiting", "health", "cost", "slot"}

// tenantQueryParams are the parameters the tenants table accepts.
var tenantQueryParams = []string{"q", "status", "tier", "instance", "sort", "dir", "page"}

// ParseTenantQuery validates the tenants table's query parameters: q (up
// to 64 letters, digits, spaces and . _ -), status, tier and instance (as
// /api/v1/tenants takes them), sort (one of the columns), dir (asc or
// desc), page (1 to 100000). Anything else, or a parameter given twice, is
// refused.
func ParseTenantQuery(v url.Values) (TenantQuery, error) {
	q := TenantQuery{Sort: "id", Page: 1}
	for k, vals := range v {
		if !slices.Contains(tenantQueryParams, k) {
			return q, badParam("unknown parameter %q", k)
		}
		if len(vals) != 1 {
			return q, badParam("parameter %q given %d times", k, len(vals))
		}
	}
	q.Search = strings.TrimSpace(v.Get("q"))
	if len(q.Search) > maxSearch {
		return q, badParam("search is longer than %d characters", maxSearch)
	}
	for _, r := range q.Search {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" ._-", r) {
			return q, badParam("search may hold letters, digits, spaces and . _ - only")
		}
	}
	f, err := restapi.TenantFilterFrom(v.Get("status"), v.Get("tier"), v.Get("instance"))
	if err != nil {
		return q, badParam("%s", err.Error())
	}
	q.Filter = f
	if s := v.Get("sort"); s != "" {
		if !slices.Contains(sortKeys, s) {
			return q, badParam("sort must be one of %s", strings.Join(sortKeys, ", "))
		}
		q.Sort = s
	}
	switch v.Get("dir") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, badParam("dir must be asc or desc")
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100000 {
			return q, badParam("page must be a whole number from 1 to 100000")
		}
		q.Page = n
	}
	return q, nil
}

// Values is the query as URL parameters, with overrides (for the links of
// sort headers and pages); defaults are left out.
func (q TenantQuery) Values(overrides ...string) string {
	v := url.Values{}
	set := func(k, val, def string) {
		if val != def {
			v.Set(k, val)
		}
	}
	set("q", q.Search, "")
	set("status", string(q.Filter.Status), "")
	set("tier", string(q.Filter.Tier), "")
	set("instance", q.Filter.InstanceID, "")
	set("sort", q.Sort, "id")
	if q.Desc {
		v.Set("dir", "desc")
	}
	set("page", strconv.Itoa(q.Page), "1")
	for i := 0; i+1 < len(overrides); i += 2 {
		if overrides[i+1] == "" {
			v.Del(overrides[i])
		} else {
			v.Set(overrides[i], overrides[i+1])
		}
	}
	return "?" + v.Encode()
}

// SortLink is the query sorting by key: ascending, or the other way when
// the table is sorted by key already; back to page 1.
func (q TenantQuery) SortLink(key string) string {
	dir := ""
	if q.Sort == key && !q.Desc {
		dir = "desc"
	}
	return q.Values("sort", key, "dir", dir, "page", "")
}

type tenantListData struct {
	Query      TenantQuery
	Rows       []TenantRow
	Total      int
	Pages      int
	SortKeys   []string
	Statuses   []string
	PoolsRead  bool
	CostReport bool
}

func (d *Dashboard) tenantList(r *http.Request) (string, string, any, error) {
	q, err := ParseTenantQuery(r.URL.Query())
	if err != nil {
		return "", "", nil, err
	}
	rows, poolsRead, costed, err := d.tenantRows(r.Context(), q.Filter, "")
	if err != nil {
		return "", "", nil, err
	}
	if q.Search != "" {
		needle := strings.ToLower(q.Search)
		rows = slices.DeleteFunc(rows, func(t TenantRow) bool {
			return !strings.Contains(t.ID, needle) && !strings.Contains(strings.ToLower(t.Name), needle)
		})
	}
	sortTenants(rows, q.Sort, q.Desc)
	out := tenantListData{Query: q, Total: len(rows), SortKeys: sortKeys, PoolsRead: poolsRead, CostReport: costed}
	for _, s := range allStatuses {
		out.Statuses = append(out.Statuses, string(s))
	}
	out.Pages = max(1, (len(rows)+PageSize-1)/PageSize)
	if q.Page > out.Pages {
		out.Query.Page = out.Pages
	}
	start := (out.Query.Page - 1) * PageSize
	out.Rows = rows[start:min(start+PageSize, len(rows))]
	return "tenants", "Tenants", out, nil
}

// tenantRows joins the tenants f selects (only tenantID when given) with
// their pools, latest health and cost share.
func (d *Dashboard) tenantRows(ctx context.Context, f controlplane.TenantFilter, tenantID string) (rows []TenantRow, poolsRead, costed bool, err error) {
	var list []controlplane.Tenant
	if tenantID != "" {
		t, err := d.cfg.Store.GetTenant(ctx, tenantID)
		if err != nil {
			return nil, false, false, err
		}
		list = []controlplane.Tenant{t}
	} else if list, err = d.cfg.Store.ListTenants(ctx, f); err != nil {
		return nil, false, false, err
	}
	pools, poolsRead := d.tenantPools(ctx)
	health, err := d.cfg.Store.ListTenantHealth(ctx, controlplane.TenantHealthFilter{TenantID: tenantID})
	if err != nil {
		return nil, false, false, err
	}
	byTenant := map[string]controlplane.TenantHealth{}
	for _, h := range health {
		byTenant[h.TenantID] = h
	}
	usage, costed, err := d.latestUsage(ctx)
	if err != nil {
		return nil, false, false, err
	}
	for _, t := range list {
		row := TenantRow{Tenant: t, Pool: pools[t.ID], Slot: batch.Slot(t.ID)}
		row.Health, row.Checked = byTenant[t.ID]
		if u, ok := usage[t.ID]; ok {
			row.Share, row.MonthlyUSD, row.Costed = u.Share, u.MonthlyUSD, true
		}
		rows = append(rows, row)
	}
	return rows, poolsRead, costed, nil
}

// latestUsage reads the latest cost report's per-tenant figures; ok is
// false before the first analysis.
func (d *Dashboard) latestUsage(ctx context.Context) (map[string]cost.TenantUsage, bool, error) {
	rep, ok, err := d.latestReport(ctx)
	if err != nil || !ok {
		return nil, false, err
	}
	out := make(map[string]cost.TenantUsage, len(rep.Tenants))
	for _, u := range rep.Tenants {
		out[u.TenantID] = u
	}
	return out, true, nil
}

// latestReport decodes the latest cost report as GET /api/v1/cost does.
func (d *Dashboard) latestReport(ctx context.Context) (cost.Report, bool, error) {
	var rep cost.Report
	row, err := d.cfg.Store.LatestCostReport(ctx)
	if errors.Is(err, controlplane.ErrNoCostReport) {
		return rep, false, nil
	}
	if err != nil {
		return rep, false, err
	}
	if err := json.Unmarshal(row.Report, &rep); err != nil {
		return rep, false, err
	}
	rep.CreatedAt = row.CreatedAt
	return rep, true, nil
}

// sortTenants orders rows by key, ties by id.
func sortTenants(rows []TenantRow, key string, desc bool) {
	by := func(a, b TenantRow) int {
		switch key {
		case "name":
			return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		case "tier":
			return cmp.Compare(a.Tier, b.Tier)
		case "instance":
			return cmp.Compare(a.InstanceID, b.InstanceID)
		case "status":
			return cmp.Compare(a.Status, b.Status)
		case "inflight":
			return cmp.Compare(a.Pool.InFlight, b.Pool.InFlight)
		case "waiting":
			return cmp.Compare(a.Pool.Waiting, b.Pool.Waiting)
		case "health":
			return a.Health.CheckedAt.Compare(b.Health.CheckedAt)
		case "cost":
			return cmp.Compare(a.Share, b.Share)
		case "slot":
			return cmp.Compare(a.Slot, b.Slot)
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b TenantRow) int {
		c := by(a, b)
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.ID, b.ID))
	})
}
