package restapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// POST /api/v1/recommendations/{id}/apply answers each refusal with its
// status and starts nothing; the run itself is tested in agents/cost
// (TestApplyBuildsTheIndexInEveryTenantThroughTheRunner).
func TestApplyRecommendationRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	rec := func(kind, key, tenant string) int64 {
		r, err := f.catalog.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: kind, Key: key, Tenants: []string{tenant},
			Evidence: []byte(`{"table": "orders", "columns": ["customer_id"]}`)})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	drop := rec(cost.KindDropIndex, "orders(x)", "acme")
	dismissed := rec(cost.KindCreateIndex, "orders(y)", "acme")
	if _, err := f.catalog.SetRecommendationStatus(ctx, dismissed, controlplane.RecommendationDismissed, "test", nil); err != nil {
		t.Fatal(err)
	}
	ghost := rec(cost.KindCreateIndex, "orders(customer_id)", "no-such-tenant")
	for _, c := range []struct {
		path string
		want int
		msg  string
	}{
		{"/api/v1/recommendations/0/apply", http.StatusBadRequest, "positive integer"},
		{"/api/v1/recommendations/x/apply", http.StatusBadRequest, "positive integer"},
		{"/api/v1/recommendations/999999999/apply", http.StatusNotFound, "not found"},
		{fmt.Sprintf("/api/v1/recommendations/%d/apply", drop), http.StatusUnprocessableEntity, "only create_index"},
		{fmt.Sprintf("/api/v1/recommendations/%d/apply", dismissed), http.StatusConflict, "not open"},
		{fmt.Sprintf("/api/v1/recommendations/%d/apply", ghost), http.StatusUnprocessableEntity, "no-such-tenant"},
	} {
		a := f.api(t, http.MethodPost, c.path, "")
		if a.Status != c.want || !strings.Contains(a.str("error"), c.msg) {
			t.Errorf("POST %s: %d %s, want %d mentioning %q", c.path, a.Status, a.Raw, c.want, c.msg)
		}
	}
	var runs int
	if err := f.db.QueryRow(ctx, "SELECT count(*) FROM migration_runs").Scan(&runs); err != nil || runs != 0 {
		t.Errorf("%d runs recorded (%v), want none", runs, err)
	}
}

// POST /api/v1/recommendations/{id}/dismiss dismisses an open
// recommendation, naming who asked, and refuses one that is not open or
// does not exist.
func TestDismissRecommendation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	r, err := f.catalog.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex, Key: "orders(z)",
		Tenants: []string{"acme"}, Evidence: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/recommendations/%d/dismiss", r.ID)
	a := f.call(t, http.MethodPost, path, "", true, http.Header{HeaderRequestedBy: {"ana"}})
	if a.Status != http.StatusOK || a.str("status") != controlplane.RecommendationDismissed || a.str("status_reason") != "dismissed by bootstrap (ana)" {
		t.Fatalf("dismiss: %d %s", a.Status, a.Raw)
	}
	if a := f.api(t, http.MethodPost, path, ""); a.Status != http.StatusConflict {
		t.Errorf("dismiss again: %d %s, want 409", a.Status, a.Raw)
	}
	if a := f.api(t, http.MethodPost, "/api/v1/recommendations/999999999/dismiss", ""); a.Status != http.StatusNotFound {
		t.Errorf("dismiss unknown: %d %s, want 404", a.Status, a.Raw)
	}
}
