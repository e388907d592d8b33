package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/health"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/dashboard"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

const token = "dashboard-test-token-123"

// fixture is a dashboard over a scratch control plane and Redis database,
// served behind the API token by a real httpapi.Server. As says who the
// test's requests come from (auth.Principal in their context, as the login
// middleware puts it there).
type fixture struct {
	store *controlplane.Store
	dash  *dashboard.Dashboard
	base  string
	as    auth.Principal
	fleet string
	queue *queue.Client
}

// principalMux puts the fixture's principal and a CSRF token in each
// page's context, as the HTTP front does for a logged-in browser.
type principalMux struct {
	srv *httpapi.Server
	f   *fixture
}

func (m principalMux) HandlePage(pattern string, h http.Handler) {
	m.srv.HandlePage(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.WithCSRFToken(auth.WithPrincipal(r.Context(), m.f.as), "csrf-of-the-session")
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

func setup(t *testing.T) *fixture {
	t.Helper()
	_, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	f := &fixture{store: controlplane.NewStore(db), fleet: cptest.UniqueName("dash")[:9],
		as: auth.Principal{Name: "olga", Role: auth.RoleOperator, Via: "session"}}
	discard := cptest.DiscardLogger()
	f.queue = queue.NewClient(rdb)
	t.Cleanup(func() { _ = f.queue.Close() })
	eng, err := alerts.New(alerts.Config{Store: f.store, Fleet: f.fleet, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	migrator, err := migrations.New(migrations.Config{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := migrate.New(migrate.Config{DB: db, Redis: rdb, Queue: f.queue, Fleet: f.fleet, Migrator: migrator,
		Sessions: sessionstest.Local(t, cptest.ServerConfig(t).DatabaseURL), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	ha, err := health.New(health.Config{Store: f.store, Alerts: eng, Redis: rdb, Fleet: f.fleet, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = insp.Close() })
	if f.dash, err = dashboard.New(dashboard.Config{Store: f.store, Alerts: eng, Migrations: runner, Queues: insp,
		PoolStats: ha.PoolStats, Schedule: func(now time.Time) []queue.EntryInfo {
			return []queue.EntryInfo{{Name: "health:sweep", Spec: "@every 30s", Next: now.Add(30 * time.Second)}}
		}, SampleEvery: 50 * time.Millisecond, History: 5, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	f.dash.Register(principalMux{srv: srv, f: f})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	f.base = "http://" + srv.Addr()
	// Published pool statistics of one process, as tenants.Pools writes
	// them, read back through the health agent's checks.
	stats, _ := json.Marshal(tenants.ProcessStats{Process: "p1", At: time.Now(), Pools: []tenants.PoolStats{{
		Pool: "instance:shared-1", Size: 10, InFlight: 4, Waiting: 3, Exhausted: 2,
		Tenants: map[string]tenants.TenantStats{"acme": {InFlight: 3, Waiting: 2,
			AcquireWait: tenants.HistogramSnapshot{Count: 4, Sum: 0.2}}},
	}}})
	if err := rdb.Set(t.Context(), tenants.StatsKey(f.fleet, "p1"), stats, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

// seed writes a small fleet: one instance with 3 tenants, an alert, a
// migration run with a failed tenant, a recommendation, a cost report, an
// audit entry.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if _, err := f.store.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "shared-1", Status: provider.StatusReady,
		Host: "127.0.0.1", Database: "fleet_shared_1"}, Provider: "local", Tier: tenants.Shared, MaxTenants: 4}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []struct{ id, name string }{{"acme", "Acme Corp"}, {"globex", "Globex"}, {"initech", "Initech <b>"}} {
		if _, err := f.store.CreateTenant(ctx, controlplane.Tenant{ID: tn.id, Name: tn.name, Tier: tenants.Shared,
			Status: tenants.TenantActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.SetTenantPlacement(ctx, tn.id, controlplane.Placement{InstanceID: "shared-1", Database: "fleet_shared_1",
			Schema: "t_" + tn.id, Role: "t_" + tn.id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.UpsertOpenAlert(ctx, controlplane.AlertUpsert{DedupKey: "pool_exhausted|acme", Kind: string(alerts.PoolExhausted),
		Subject: "acme", TenantID: "acme", InstanceID: "shared-1", Severity: string(alerts.Critical), Summary: "acme waited for connections"}); err != nil {
		t.Fatal(err)
	}
	run, err := f.store.CreateMigrationRun(ctx, controlplane.NewMigrationRun{Phase: controlplane.MigrationPhaseMain, TargetVersion: 3,
		Concurrency: 2, RequestedBy: "test", Tenants: []controlplane.MigrationRunMember{
			{TenantID: "acme", InstanceID: "shared-1"}, {TenantID: "globex", InstanceID: "shared-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range map[string]controlplane.MigrationTenantState{"acme": controlplane.MigrationTenantSucceeded, "globex": controlplane.MigrationTenantFailed} {
		if _, err := f.store.StartMigrationAttempt(ctx, run, id); err != nil {
			t.Fatal(err)
		}
		msg := ""
		if st == controlplane.MigrationTenantFailed {
			msg = "lock timeout on t_globex.orders"
		}
		if err := f.store.RecordMigrationAttempt(ctx, run, id, controlplane.MigrationAttempt{Status: st, Error: msg, Duration: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex, Key: "orders(customer_id)",
		Tenants: []string{"acme"}, Statement: "CREATE INDEX CONCURRENTLY ON orders (customer_id)", CostBefore: 1200, CostAfter: 40,
		MonthlySavingUSD: 12.5, Evidence: []byte(`{"table":"orders","columns":["customer_id"],"tenants":[{"tenant_id":"acme","instance_id":"shared-1","calls":900,"cost_before":1200,"cost_after":40,"monthly_saving_usd":12.5}]}`)}); err != nil {
		t.Fatal(err)
	}
	rep, _ := json.Marshal(cost.Report{FleetMonthlyUSD: 180, Tenants: []cost.TenantUsage{{TenantID: "acme", InstanceID: "shared-1", Share: 0.6, MonthlyUSD: 90}},
		Instances: []cost.InstanceUsage{{InstanceID: "shared-1", Tier: "shared", MonthlyUSD: 180}}})
	if _, err := f.store.SaveCostReport(ctx, false, rep); err != nil {
		t.Fatal(err)
	}
	if err := f.store.RecordAudit(ctx, controlplane.AuditEntry{Actor: "jira:ana", Action: "tenant.onboard", TenantID: "acme", Ticket: "OPS-1", Outcome: "accepted"}); err != nil {
		t.Fatal(err)
	}
}

// get fetches path with the token and returns status and body.
func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
}

// Every page renders the seeded fleet, joined as the issue lists.
func TestPagesShowTheFleet(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	code, body := f.get(t, "/")
	if code != http.StatusOK {
		t.Fatalf("overview: %d %s", code, body)
	}
	mustContain(t, "overview", body, "shared-1", "3/4 tenants", "75%", "pool_exhausted", "acme waited for connections",
		"Run <a href=\"/migrations?run=", "1 succeeded · 1 failed", `<td>critical</td>`, "4 / 3", `href="/monitoring/"`,
		`content="csrf-of-the-session"`)
	code, body = f.get(t, "/tenants?sort=waiting&dir=desc")
	if code != http.StatusOK {
		t.Fatalf("tenants: %d %s", code, body)
	}
	mustContain(t, "tenants", body, `href="/tenants/acme"`, "Initech &lt;b&gt;", "60%", fmt.Sprintf("<td>%d</td>", batch.Slot("globex")))
	if strings.Index(body, `href="/tenants/acme"`) > strings.Index(body, `href="/tenants/globex"`) {
		t.Error("sorted by waiting, descending: acme (2 waiting) is not first")
	}
	code, body = f.get(t, "/tenants/acme")
	if code != http.StatusOK {
		t.Fatalf("tenant: %d %s", code, body)
	}
	mustContain(t, "tenant", body, "Acme Corp", "3 in flight, 2 waiting", "mean wait 50.0 ms", "tenant.onboard", "jira:ana",
		"CREATE INDEX CONCURRENTLY", "pool_exhausted", "succeeded")
	code, body = f.get(t, "/migrations")
	if code != http.StatusOK {
		t.Fatalf("migrations: %d %s", code, body)
	}
	mustContain(t, "migrations", body, "lock timeout on t_globex.orders", "Retry failed", `hx-post="/api/v1/migrations"`)
	if strings.Index(body, "/tenants/globex") > strings.Index(body, "/tenants/acme") {
		t.Error("migration tenants: the failed one is not listed first")
	}
	code, body = f.get(t, "/alerts")
	if code != http.StatusOK {
		t.Fatalf("alerts: %d %s", code, body)
	}
	mustContain(t, "alerts", body, "Acknowledge", `hx-post="/api/v1/alerts/`, `hx-post="/api/v1/silences"`, `name="csrf_token" value="csrf-of-the-session"`)
	code, body = f.get(t, "/cost")
	if code != http.StatusOK {
		t.Fatalf("cost: %d %s", code, body)
	}
	mustContain(t, "cost", body, "$12.50/month", "1200.0 → 40.0", "/apply", "/dismiss", "$180.00", "shared-1")
	code, body = f.get(t, "/schedule")
	if code != http.StatusOK {
		t.Fatalf("schedule: %d %s", code, body)
	}
	mustContain(t, "schedule", body, "health:sweep", "@every 30s", "3 active tenants")
	if n := strings.Count(body, `title="slot `); n != batch.Slots {
		t.Errorf("schedule: %d slot cells, want %d", n, batch.Slots)
	}
	for _, asset := range []string{"/assets/app.js", "/assets/app.css", "/assets/charts.js", "/assets/vendor/htmx-1.9.12.min.js",
		"/assets/vendor/uPlot-1.6.31.iife.min.js", "/assets/vendor/htmx.LICENSE", "/assets/vendor/uPlot.LICENSE"} {
		if code, _ := f.get(t, asset); code != http.StatusOK {
			t.Errorf("%s: %d", asset, code)
		}
	}
	if code, _ := f.get(t, "/assets/"); code != http.StatusNotFound {
		t.Errorf("/assets/ listing: %d, want 404", code)
	}
}

// A viewer sees every page without a single action button or form.
func TestViewerSeesNoActions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	f.as = auth.Principal{Name: "vic", Role: auth.RoleViewer, Via: "session"}
	for _, path := range []string{"/", "/tenants", "/tenants/acme", "/migrations", "/alerts", "/cost", "/schedule"} {
		code, body := f.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if strings.Contains(body, "hx-post") {
			t.Errorf("%s: a viewer is shown an action", path)
		}
	}
}

// Query parameters are validated: a bad one answers 400 naming it, and
// nothing of it is echoed unescaped.
func TestQueryParametersAreValidated(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	for _, c := range []struct {
		path string
		want int
		msg  string
	}{
		{"/tenants?sort=" + url.QueryEscape("id;drop"), 400, "sort must be one of"},
		{"/tenants?dir=sideways", 400, "dir must be asc or desc"},
		{"/tenants?page=0", 400, "page must be"},
		{"/tenants?page=abc", 400, "page must be"},
		{"/tenants?page=1&page=2", 400, "given 2 times"},
		{"/tenants?q=" + url.QueryEscape("<script>"), 400, "search may hold"},
		{"/tenants?q=" + strings.Repeat("a", 65), 400, "longer than 64"},
		{"/tenants?status=zombie", 400, "status must be one of"},
		{"/tenants?tier=gold", 400, "tier must be"},
		{"/tenants?evil=1", 400, "unknown parameter"},
		{"/tenants/Bad_ID", 400, "tenant"},
		{"/tenants/nobody-here", 404, "not found"},
		{"/migrations?run=-1", 400, "positive integer"},
		{"/migrations?run=99999", 404, "not found"},
		{"/alerts?kind=" + url.QueryEscape("<b>"), 400, ""},
		{"/cost?status=maybe", 400, "status must be"},
		{"/?x=1", 400, "no query parameters"},
		{"/schedule?x=1", 400, "no query parameters"},
		{"/overview/history?x=1", 400, "no query parameters"},
		{"/tenants?q=acme&page=99", 200, "acme"}, // a page past the end shows the last
		{"/tenants?q=glob", 200, "Globex"},
	} {
		code, body := f.get(t, c.path)
		if code != c.want || !strings.Contains(body, c.msg) {
			t.Errorf("GET %s: %d, want %d mentioning %q:\n%.300s", c.path, code, c.want, c.msg, body)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<b>") && !strings.Contains(c.path, "history") {
			t.Errorf("GET %s echoes markup unescaped", c.path)
		}
	}
	if _, body := f.get(t, "/tenants?q=glob"); strings.Contains(body, "/tenants/acme") {
		t.Error("search for glob lists acme")
	}
}

// Pages need the fleet's credential like the API.
func TestPagesNeedACredential(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, path := range []string{"/", "/tenants", "/assets/app.js", "/overview/history"} {
		resp, err := http.Get(f.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a credential: %d, want 401", path, resp.StatusCode)
		}
	}
}

// The tenants table pages through 25 rows at a time.
func TestTenantTablePaginates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	for i := range 30 {
		if _, err := f.store.CreateTenant(ctx, controlplane.Tenant{ID: fmt.Sprintf("t-%02d", i), Name: fmt.Sprintf("T %02d", i),
			Tier: tenants.Shared, Status: tenants.TenantPending}); err != nil {
			t.Fatal(err)
		}
	}
	_, p1 := f.get(t, "/tenants")
	_, p2 := f.get(t, "/tenants?page=2")
	if strings.Count(p1, `href="/tenants/t-`) != dashboard.PageSize || strings.Count(p2, `href="/tenants/t-`) != 5 {
		t.Errorf("pages hold %d and %d tenants, want %d and 5", strings.Count(p1, `href="/tenants/t-`), strings.Count(p2, `href="/tenants/t-`), dashboard.PageSize)
	}
	mustContain(t, "page 1", p1, "t-00", "t-24", `id="next-page"`, "page 1 of 2")
	mustContain(t, "page 2", p2, "t-29", "page 2 of 2")
	if strings.Contains(p2, `"/tenants/t-00"`) {
		t.Error("page 2 repeats page 1")
	}
}

// The sampler keeps a bounded history: capacity per instance, queue
// depths, pool waits.
func TestSamplerKeepsABoundedHistory(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	if _, err := f.queue.Enqueue(t.Context(), asynq.NewTask("cost:analyze", []byte(`{}`)), asynq.Queue(queue.QueueLow)); err != nil {
		t.Fatal(err)
	}
	s, err := f.dash.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Capacity["shared-1"] != 75 || s.Queues[queue.QueueLow] != 1 || s.PoolWaiting != 3 || s.PoolExhausted != 2 {
		t.Errorf("sample: %+v", s)
	}
	f.dash.Start(t.Context())
	defer f.dash.Stop()
	var h dashboard.HistoryJSON
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := f.get(t, "/overview/history")
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		if len(h.Samples) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history has %d samples, want it full at 5", len(h.Samples))
		}
	}
	time.Sleep(200 * time.Millisecond) // several more samples: still bounded
	_, body := f.get(t, "/overview/history")
	_ = json.Unmarshal([]byte(body), &h)
	if len(h.Samples) != 5 || h.Samples[0].At > h.Samples[4].At {
		t.Errorf("history: %d samples, oldest first? %v", len(h.Samples), h.Samples)
	}
}
