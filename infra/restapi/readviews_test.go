package restapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestBatchAndHealthResources: GET /api/v1/batch, /batch/runs and
// /health answer their views (empty lists as []), and refuse bad query
// parameters with 400 before any SQL.
func TestBatchAndHealthResources(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.tenant(t, "acme", tenants.TenantActive)
	var up BatchUpcomingListJSON
	if a := f.api(t, "GET", "/api/v1/batch?tenant=acme", ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &up) != nil ||
		len(up.Upcoming) != 1 || up.Upcoming[0].TenantID != "acme" {
		t.Fatalf("GET /api/v1/batch?tenant=acme: %d %s", a.Status, a.Raw)
	}
	if a := f.api(t, "GET", "/api/v1/batch?tenant=nobody", ""); a.Status != http.StatusNotFound {
		t.Errorf("batch of an unknown tenant: %d %s, want 404", a.Status, a.Raw)
	}
	if a := f.api(t, "GET", "/api/v1/batch/runs", ""); a.Status != http.StatusOK || strings.TrimSpace(a.Raw) != `{"runs":[]}` {
		t.Errorf("GET /api/v1/batch/runs: %d %s", a.Status, a.Raw)
	}
	if a := f.api(t, "GET", "/api/v1/health", ""); a.Status != http.StatusOK ||
		strings.TrimSpace(a.Raw) != `{"instances":[],"tenants":[],"drains":[]}` {
		t.Errorf("GET /api/v1/health: %d %s", a.Status, a.Raw)
	}
	before := f.touched.Count()
	for _, path := range []string{
		"/api/v1/batch?tenant=Robert%27%29%3B--", "/api/v1/batch/runs?kind=..%2Fetc", "/api/v1/batch/runs?limit=0",
		"/api/v1/batch/runs?limit=1001", "/api/v1/health?instance=x%20y", "/api/v1/health?drains=0", "/api/v1/health?tenant=NOPE",
	} {
		if a := f.api(t, "GET", path, ""); a.Status != http.StatusBadRequest || a.str("error") == "" {
			t.Errorf("GET %s: %d %s, want 400 saying why", path, a.Status, a.Raw)
		}
	}
	if n := f.touched.Count() - before; n != 0 {
		t.Errorf("bad query parameters ran %d statements, want none", n)
	}
}

// TestRecommendationGetAndDismiss: GET and dismiss of one recommendation,
// with 404, 409 and 400; served in-process (Handler) the dismissal names
// the principal.
func TestRecommendationGetAndDismiss(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	rec, err := controlplane.NewStore(f.db).UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex,
		Key: "orders(a)", Tenants: []string{"acme"}, Evidence: []byte(`{"table": "orders"}`)})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/recommendations/" + itoa(rec.ID)
	if a := f.api(t, "GET", path, ""); a.Status != http.StatusOK || a.str("status") != "open" {
		t.Fatalf("GET %s: %d %s", path, a.Status, a.Raw)
	}
	for p, want := range map[string]int{"/api/v1/recommendations/424242": 404, "/api/v1/recommendations/x": 400} {
		if a := f.api(t, "GET", p, ""); a.Status != want {
			t.Errorf("GET %s: %d, want %d", p, a.Status, want)
		}
		if a := f.api(t, "POST", p+"/dismiss", ""); a.Status != want {
			t.Errorf("POST %s/dismiss: %d, want %d", p, a.Status, want)
		}
	}
	if a := f.api(t, "POST", path+"/dismiss", `{"surprise": 1}`); a.Status != http.StatusBadRequest {
		t.Errorf("dismiss with an unknown field: %d, want 400", a.Status)
	}
	// In-process, as the CLI serves itself: no token, the principal in
	// the context names who dismissed it.
	req := httptest.NewRequest(http.MethodPost, path+"/dismiss", nil)
	req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Name: "alice", Role: auth.RoleOperator, Via: "local"}))
	w := httptest.NewRecorder()
	f.rest.Handler().ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Body)
	var got RecommendationJSON
	if w.Code != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Status != controlplane.RecommendationDismissed ||
		got.StatusReason != "dismissed by local:alice" || w.Header().Get(HeaderRequestID) == "" {
		t.Fatalf("in-process dismiss: %d %s", w.Code, body)
	}
	if a := f.api(t, "POST", path+"/dismiss", ""); a.Status != http.StatusConflict {
		t.Errorf("second dismiss: %d %s, want 409", a.Status, a.Raw)
	}
	if a := f.call(t, "POST", path+"/dismiss", "", false, nil); a.Status != http.StatusUnauthorized {
		t.Errorf("dismiss without the token through the server: %d, want 401", a.Status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestMigrationProgressView: ?view=progress is the only view; an unknown
// run is 404 in either.
func TestMigrationProgressView(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for path, want := range map[string]int{
		"/api/v1/migrations/7?view=progress": http.StatusNotFound,
		"/api/v1/migrations/7":               http.StatusNotFound,
		"/api/v1/migrations/7?view=all":      http.StatusBadRequest,
	} {
		if a := f.api(t, "GET", path, ""); a.Status != want {
			t.Errorf("GET %s: %d %s, want %d", path, a.Status, a.Raw, want)
		}
	}
}
