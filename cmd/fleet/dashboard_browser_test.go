package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
)

// screenshotDir is where the browser test saves its screenshots: the
// test's temporary directory, or docs/dashboard (which docs/dashboard.md
// shows) with FLEET_SCREENSHOTS=docs, so a test run leaves the checkout as
// it was.
func screenshotDir(t *testing.T) string {
	if os.Getenv("FLEET_SCREENSHOTS") == "docs" {
		return "../../docs/dashboard"
	}
	return t.TempDir()
}

// lockedBuffer is a log sink safe for the fleet's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browserFleet is `fleet run` with every role, in this process, on a
// scratch control plane and Redis database.
type browserFleet struct {
	base  string
	token string
	env   map[string]string
	store *controlplane.Store
	logs  *lockedBuffer
}

const browserTicketSecret = "ui-ticket-secret-0123456789"

func startBrowserFleet(t *testing.T) *browserFleet {
	t.Helper()
	env, db, _ := scratchFleet(t, "ui")
	f := &browserFleet{token: "ui-bootstrap-token-0123456789", env: env, store: controlplane.NewStore(db), logs: &lockedBuffer{}}
	addr := freeAddr(t)
	env["FLEET_HTTP_ADDR"] = addr
	env["FLEET_API_TOKEN"] = f.token
	env["FLEET_TICKET_WEBHOOK_SECRET"] = browserTicketSecret
	env["FLEET_SHUTDOWN_TIMEOUT"] = "5s"
	env["FLEET_HEALTH_INTERVAL"] = "5s"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run"}, func(k string) string { return env[k] }, io.Discard, f.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fleet run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("fleet did not stop within 30s")
		}
	})
	f.base = "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(f.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("fleet stopped: %v\n%s", err, f.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet not ready within 60s:\n%s", f.logs.String())
		}
	}
	return f
}

// onboardByWebhook sends a signed ticket webhook for tenant id.
func (f *browserFleet) onboardByWebhook(t *testing.T, id, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ticket_id": "UI-" + id, "tenant_id": id, "name": name, "tier": "shared", "requested_by": "ana"})
	req, _ := http.NewRequest(http.MethodPost, f.base+"/webhooks/tickets", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	stdwebhook.Sign(req.Header, []byte(browserTicketSecret), "msg_"+id, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("webhook: %d %s", resp.StatusCode, b)
	}
}

// newBrowser starts headless Chromium (Debian's package, found on PATH)
// with a fresh profile; the returned context drives one tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium is not installed: apt-get install -y chromium (.ci/run does)")
	}
	// A fresh profile, removed once the browser has exited (t.TempDir's
	// cleanup could race the browser's last writes).
	profile, err := os.MkdirTemp("", "fleet-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("chromium"),
		chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	bctx, cancelTimeout := context.WithTimeout(bctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc(); _ = os.RemoveAll(profile) })
	if err := chromedp.Run(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// screenshot saves the full page as NAME.png in screenshotDir.
func screenshot(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text returns the text of the first element matching sel.
func text(t *testing.T, bctx context.Context, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(bctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitPage reloads path until the text of sel contains want.
func waitPage(t *testing.T, bctx context.Context, url, sel, want string, within time.Duration) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(within); ; time.Sleep(500 * time.Millisecond) {
		got = ""
		err := chromedp.Run(bctx, chromedp.Navigate(url), chromedp.WaitReady("body", chromedp.ByQuery),
			chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel), &got))
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never showed %q (last: %q, err %v)", url, sel, want, got, err)
		}
	}
}

// act opens url, clicks the button sel and waits for the page's banner:
// it fails the test with the API's answer when the action was refused.
func act(t *testing.T, bctx context.Context, url, sel string) {
	t.Helper()
	var class, msg string
	if err := chromedp.Run(bctx, chromedp.Navigate(url), chromedp.WaitVisible(sel, chromedp.ByQuery),
		chromedp.Poll(`window.htmx !== undefined && document.readyState === "complete"`, nil),
		chromedp.Click(sel, chromedp.ByQuery), chromedp.WaitVisible("#flash.ok, #flash.err", chromedp.ByQuery),
		chromedp.AttributeValue("#flash", "class", &class, nil, chromedp.ByQuery), chromedp.Text("#flash", &msg, chromedp.ByQuery)); err != nil {
		t.Fatalf("%s: click %s: %v", url, sel, err)
	}
	if !strings.Contains(class, "ok") {
		t.Fatalf("%s: %s refused: %s", url, sel, msg)
	}
}

// fetchStatus runs fetch(path, POST) in the page with the given headers
// and returns the answer's status and body.
func fetchStatus(t *testing.T, bctx context.Context, path string, headers map[string]string) (int, string) {
	t.Helper()
	h, _ := json.Marshal(headers)
	var out struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	js := fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "same-origin", headers: %s, body: "{}"}).then(async r => ({status: r.status, body: await r.text()}))`, path, h)
	if err := chromedp.Run(bctx, chromedp.Evaluate(js, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
		t.Fatalf("fetch %s: %v", path, err)
	}
	return out.Status, out.Body
}

// seedAlert opens an alert about tenant id through the Store, as the
// health agent's pool watch would.
func (f *browserFleet) seedAlert(t *testing.T, id string) int64 {
	t.Helper()
	up, err := f.store.UpsertOpenAlert(t.Context(), controlplane.AlertUpsert{DedupKey: "pool_exhausted|" + id,
		Kind: string(alerts.PoolExhausted), Subject: id, TenantID: id, Severity: string(alerts.Critical),
		Summary: id + " callers gave up waiting for a connection"})
	if err != nil {
		t.Fatal(err)
	}
	return up.Alert.ID
}

// seedRecommendation records a create_index recommendation for tenant id
// on its accounts table, as the cost agent would after measuring it (the
// agent itself needs pg_stat_statements preloaded; agents/cost tests it).
func (f *browserFleet) seedRecommendation(t *testing.T, id string) int64 {
	t.Helper()
	ev, _ := json.Marshal(cost.IndexEvidence{Table: "accounts", Columns: []string{"holder_name"}, SavedMSPerMonth: 5400,
		Tenants: []cost.TenantEvidence{{TenantID: id, Statement: "SELECT * FROM accounts WHERE holder_name = $1", Calls: 1200,
			InstanceID: "001-shared", ExecMS: 840, CostBefore: 1830, CostAfter: 8.3, SavedMSPerMonth: 5400, SavingUSD: 3.1}}})
	r, err := f.store.UpsertRecommendation(t.Context(), controlplane.Recommendation{Kind: cost.KindCreateIndex,
		Key: "accounts(holder_name)", Tenants: []string{id}, Statement: "CREATE INDEX CONCURRENTLY ON accounts (holder_name)",
		CostBefore: 1830, CostAfter: 8.3, MonthlySavingUSD: 3.1, Evidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestDashboardInTheBrowser drives the dashboard of a real fleet in
// headless Chromium and saves the screenshots docs/dashboard.md shows.
func TestDashboardInTheBrowser(t *testing.T) {
	f := startBrowserFleet(t)
	b := newBrowser(t)
	actor := login(t, f, b, "olga", "operator")

	// A tenant onboarded through the signed webhook appears, active.
	f.onboardByWebhook(t, "ui-co", "UI Co")
	for _, tn := range []struct{ id, name string }{{"beta-co", "Beta Co"}, {"gamma-ltd", "Gamma Ltd"}, {"delta-bank", "Delta Bank"},
		{"epsilon-io", "Epsilon IO"}, {"zeta-shop", "Zeta Shop"}} {
		f.onboardByWebhook(t, tn.id, tn.name)
	}
	waitPage(t, b, f.base+"/tenants?q=ui-co", "#tenants tbody", "active", 90*time.Second)
	waitPage(t, b, f.base+"/tenants?status=active", "#tenants-count", "6 tenants", 120*time.Second)
	waitPage(t, b, f.base+"/tenants?sort=name", "#tenants tbody", "zeta-shop", 10*time.Second)
	screenshot(t, b, "tenants")
	waitPage(t, b, f.base+"/tenants/ui-co", "#onboarding-steps", "done", 10*time.Second)
	if got := text(t, b, "#tenant-audit"); !strings.Contains(got, "tenant.onboard") {
		t.Errorf("tenant page audit log: %q", got)
	}

	// Start a migration run from the page and watch it finish.
	act(t, b, f.base+"/migrations", `#start-migration button[type=submit]`)
	waitPage(t, b, f.base+"/migrations", "#run-status", "succeeded", 90*time.Second)
	screenshot(t, b, "migrations")

	// Acknowledge an alert.
	alertID := f.seedAlert(t, "ui-co")
	act(t, b, f.base+"/alerts", fmt.Sprintf(`#alert-%d button.ack`, alertID))
	waitPage(t, b, f.base+"/alerts", fmt.Sprintf("#alert-%d .acked", alertID), actor, 20*time.Second)
	screenshot(t, b, "alerts")

	// Apply a recommendation: the runner builds the index and marks it
	// applied.
	recID := f.seedRecommendation(t, "ui-co")
	act(t, b, f.base+"/cost", fmt.Sprintf(`#rec-%d button.apply`, recID))
	waitPage(t, b, f.base+"/cost", fmt.Sprintf("#rec-%d", recID), "applied", 90*time.Second)
	rec, err := f.store.GetRecommendation(t.Context(), recID)
	if err != nil || rec.MigrationRunID == nil {
		t.Fatalf("recommendation %d: %+v %v, want it attached to a run", recID, rec, err)
	}
	screenshot(t, b, "cost")

	// The overview, with a few samples in its charts; the schedule.
	waitPage(t, b, f.base+"/", "#instances", "ready", 10*time.Second)
	time.Sleep(21 * time.Second) // three samples at the default 10s
	if err := chromedp.Run(b, chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(`#chart-capacity canvas`, chromedp.ByQuery),
		chromedp.Sleep(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "overview")
	waitPage(t, b, f.base+"/schedule", "#entries", "health:sweep", 10*time.Second)
	screenshot(t, b, "schedule")
	if err := chromedp.Run(b, chromedp.Navigate(f.base+"/tenants/ui-co"), chromedp.WaitReady("#tenant-info", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "tenant")

	// Asynqmon opens after the same login.
	var title string
	if err := chromedp.Run(b, chromedp.Navigate(f.base+"/monitoring/"), chromedp.WaitReady("body", chromedp.ByQuery),
		chromedp.Sleep(time.Second), chromedp.Title(&title)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(title), "asynq") {
		t.Errorf("/monitoring/ title %q, want Asynqmon", title)
	}
	screenshot(t, b, "asynqmon")

	checkRefusals(t, f, b, alertID)
}
