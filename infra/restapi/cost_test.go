package restapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
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
		{fmt.Sprintf("/api/v1/recommendations/%d/apply", drop), http.StatusUnprocessableEntity, "names no index to drop"},
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

// POST /api/v1/cost/analyze queues one cost:analyze task (202); a second
// request while it is pending queues nothing and says duplicate; once the
// task has failed (archived) a new request queues a new one after the
// newest report; an invalid X-Requested-By is 422; Redis down is a 500
// that names nothing of it.
func TestRequestCostAnalysis(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	post := func(by string) answer {
		t.Helper()
		h := http.Header{}
		if by != "" {
			h.Set(HeaderRequestedBy, by)
		}
		return f.call(t, http.MethodPost, "/api/v1/cost/analyze", "", true, h)
	}
	pending := func() []*asynq.TaskInfo {
		t.Helper()
		infos, err := f.insp.ListPendingTasks(cost.RequestQueue)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		return infos
	}

	a := post("alice")
	if a.Status != http.StatusAccepted || a.str("task_id") != cost.RequestTaskID || a.str("queue") != cost.RequestQueue ||
		a.Body["duplicate"] != false || a.Body["after_report_id"] != float64(0) || a.str("report_url") != "/api/v1/cost" {
		t.Fatalf("first request: %d %s", a.Status, a.Raw)
	}
	infos := pending()
	if len(infos) != 1 || infos[0].ID != cost.RequestTaskID || infos[0].Type != queue.TypeCostAnalyze || infos[0].MaxRetry != 0 {
		t.Fatalf("pending %+v, want the one cost:analyze task", infos)
	}
	var p queue.CostAnalyzePayload
	if err := json.Unmarshal(infos[0].Payload, &p); err != nil || p.RequestedBy != "bootstrap (alice)" || p.Slot.IsZero() {
		t.Errorf("payload %s (%v), want requested_by bootstrap (alice) and a slot", infos[0].Payload, err)
	}

	if a := post("bob"); a.Status != http.StatusAccepted || a.Body["duplicate"] != true || a.str("task_id") != cost.RequestTaskID {
		t.Errorf("second request: %d %s, want 202 duplicate", a.Status, a.Raw)
	}
	if n := len(pending()); n != 1 {
		t.Errorf("%d tasks pending after the duplicate, want 1", n)
	}

	// The task failed (a task not retried is archived): it must not block
	// the next request, which follows the newest report.
	if err := f.insp.ArchiveTask(cost.RequestQueue, cost.RequestTaskID); err != nil {
		t.Fatal(err)
	}
	reportID, err := f.catalog.SaveCostReport(ctx, false, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := post(""); a.Status != http.StatusAccepted || a.Body["duplicate"] != false || a.Body["after_report_id"] != float64(reportID) {
		t.Errorf("request after a failed one: %d %s, want 202 after report %d", a.Status, a.Raw, reportID)
	}
	if infos := pending(); len(infos) != 1 || infos[0].ID != cost.RequestTaskID {
		t.Errorf("pending %+v, want the new task", infos)
	}
	archived, err := f.insp.ListArchivedTasks(cost.RequestQueue)
	if err != nil || len(archived) != 0 {
		t.Errorf("archived %v (%v), want the failed task replaced", archived, err)
	}

	if a := post(strings.Repeat("x", queue.MaxRequestedBy+1)); a.Status != http.StatusUnprocessableEntity || !strings.Contains(a.str("error"), "requested_by") {
		t.Errorf("long X-Requested-By: %d %s, want 422", a.Status, a.Raw)
	}
	if a := f.api(t, http.MethodGet, "/api/v1/cost/analyze", ""); a.Status != http.StatusOK || a.str("state") != "pending" ||
		a.Body["latest_report_id"] != float64(reportID) || a.str("task_id") != cost.RequestTaskID {
		t.Errorf("GET status: %d %s, want the pending task and report %d", a.Status, a.Raw, reportID)
	}

	// Redis down: a 500 that says nothing of it; the cause is logged.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &cptest.SyncBuffer{}
	New(Config{CostAnalyze: cost.Requester{Store: f.catalog, Queue: queue.NewClient(down)}, Logger: slogJSON(logs)}).Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	g := *f
	g.base = "http://" + srv.Addr()
	if a := g.api(t, http.MethodPost, "/api/v1/cost/analyze", ""); a.Status != http.StatusInternalServerError ||
		a.str("error") != internalMessage || strings.Contains(a.Raw, "127.0.0.1") {
		t.Errorf("Redis down: %d %s, want a bare 500", a.Status, a.Raw)
	}
	if !strings.Contains(logs.String(), "cost:analyze") {
		t.Errorf("the failure was not logged: %s", logs.String())
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
