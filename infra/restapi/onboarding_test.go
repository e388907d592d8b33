package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestOnboardSubmitAndGet(t *testing.T) {
	t.Parallel()
	f := setup(t)
	body := mustJSON(OnboardRequestBody{TenantID: "hooli", Name: "Hooli", Tier: "dedicated"})

	// Without the token: refused by the server before the API sees it.
	if got := f.call(t, "POST", "/api/v1/tenants", body, false, nil); got.Status != http.StatusUnauthorized {
		t.Fatalf("no token: got %d, want 401", got.Status)
	}
	h := http.Header{}
	h.Set(HeaderRequestedBy, "gavin")
	h.Set(HeaderIdempotencyKey, "retry-1")
	first := f.call(t, "POST", "/api/v1/tenants", body, true, h)
	if first.Status != http.StatusAccepted || first.str("tenant_id") != "hooli" || first.str("status") != string(intake.StatusEnqueued) {
		t.Fatalf("submit: got %d %s, want 202 enqueued", first.Status, first.Raw)
	}
	again := f.call(t, "POST", "/api/v1/tenants", body, true, h)
	if again.str("task_id") != first.str("task_id") || again.Body["duplicate"] != true {
		t.Errorf("retry with the same Idempotency-Key: got %s, want duplicate of %s", again.Raw, first.Raw)
	}

	id := int64(first.Body["request_id"].(float64))
	got := f.api(t, "GET", fmt.Sprintf("/api/v1/intake/%d", id), "")
	if got.Status != http.StatusOK || got.str("requested_by") != "bootstrap (gavin)" || got.str("tier") != "dedicated" ||
		got.str("source") != "api" || got.str("delivery_id") != "retry-1" {
		t.Errorf("get: got %d %s", got.Status, got.Raw)
	}
	for path, want := range map[string]int{"/api/v1/intake/999999": 404, "/api/v1/intake/x": 400, "/api/v1/intake/-1": 400} {
		if got := f.api(t, "GET", path, ""); got.Status != want {
			t.Errorf("GET %s: got %d, want %d", path, got.Status, want)
		}
	}
}

// TestOnboardingAcceptedMatchesWebhookAnswer: the webhooks answer
// intake.Accepted as JSON, the API OnboardingAcceptedJSON; both must read
// the same.
func TestOnboardingAcceptedMatchesWebhookAnswer(t *testing.T) {
	t.Parallel()
	acc := intake.Accepted{RequestID: 7, TenantID: "acme", TaskID: "onboard:7", Status: intake.StatusPending, Duplicate: true}
	webhook, _ := json.Marshal(acc)
	api, _ := json.Marshal(OnboardingAcceptedView(acc))
	if string(webhook) != string(api) {
		t.Errorf("webhook answer %s, API answer %s: they drifted", webhook, api)
	}
}

// The API carries the re-onboarding choice (restore the archived schema,
// or fresh) into the stored request.
func TestOnboardRestoreChoiceIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	restored := f.api(t, "POST", "/api/v1/tenants", `{"tenant_id": "comeback", "name": "Comeback", "restore": true}`)
	fresh := f.api(t, "POST", "/api/v1/tenants", `{"tenant_id": "fresh-co"}`)
	for _, c := range []struct {
		a    answer
		want bool
	}{{restored, true}, {fresh, false}} {
		if c.a.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", c.a.Status, c.a.Raw)
		}
		rec, err := f.intake.Get(t.Context(), int64(c.a.Body["request_id"].(float64)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Restore != c.want {
			t.Errorf("%s: restore %v, want %v", rec.TenantID, rec.Restore, c.want)
		}
	}
	if got := f.api(t, "POST", "/api/v1/tenants", `{"tenant_id": "x-co", "restore": "yes"}`); got.Status != http.StatusBadRequest {
		t.Errorf("restore as a string: %d, want 400", got.Status)
	}
}

// TestOnboardingRejectedTouchesNothing sends invalid requests: each gets
// its 4xx (422 naming the field) and not one statement reaches the
// database.
func TestOnboardingRejectedTouchesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	injection := "acme'; drop table x; --"
	long := "a" + strings.Repeat("b", 40)
	huge := mustJSON(OnboardRequestBody{TenantID: "acme", Name: strings.Repeat("x", DefaultMaxBodyBytes)})
	tooLongBy := http.Header{HeaderRequestedBy: {strings.Repeat("x", intake.MaxKeyLen+1)}}
	tests := []struct {
		name   string
		body   string
		header http.Header
		status int
		field  string
	}{
		{"trailing data", `{"tenant_id":"acme"} {"tenant_id":"evil"}`, nil, 400, ""},
		{"not an object", `[{"tenant_id":"acme"}]`, nil, 400, ""},
		{"unknown field", `{"tenant_id":"acme","teir":"shared"}`, nil, 400, ""},
		{"injection", mustJSON(OnboardRequestBody{TenantID: injection}), nil, 422, "tenant_id"},
		{"too long", mustJSON(OnboardRequestBody{TenantID: long}), nil, 422, "tenant_id"},
		{"empty id", `{}`, nil, 422, "tenant_id"},
		{"bad tier", mustJSON(OnboardRequestBody{TenantID: "acme", Tier: "gold"}), nil, 422, "tier"},
		{"control char in name", mustJSON(OnboardRequestBody{TenantID: "acme", Name: "Acme\x00"}), nil, 422, "name"},
		{"bidi override in the name", mustJSON(OnboardRequestBody{TenantID: "acme", Name: "\u202eknaB emcA"}), nil, 422, "name"},
		{"byte order mark in the name", mustJSON(OnboardRequestBody{TenantID: "acme", Name: "\ufeffAcme"}), nil, 422, "name"},
		{"line separator in the name", mustJSON(OnboardRequestBody{TenantID: "acme", Name: "Acme\u2028Bank"}), nil, 422, "name"},
		{"requested_by too long", mustJSON(OnboardRequestBody{TenantID: "acme"}), tooLongBy, 422, "requested_by"},
		{"body too large", huge, nil, 413, ""},
		{"text/plain body", `{"tenant_id":"acme"}`, http.Header{"Content-Type": {"text/plain"}}, 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.call(t, "POST", "/api/v1/tenants", tt.body, true, tt.header)
			if got.Status != tt.status {
				t.Fatalf("got %d %.200s, want %d", got.Status, got.Raw, tt.status)
			}
			if tt.field != "" && (got.str("field") != tt.field || got.str("reason") == "" || got.str("error") == "") {
				t.Errorf("got %s, want field %q with a reason", got.Raw, tt.field)
			}
		})
	}
	if got := f.touched.Count(); got != 0 {
		t.Errorf("database touched %d times by rejected requests, want 0", got)
	}
	if got := f.count(t, "SELECT count(*) FROM intake_requests"); got != 0 {
		t.Errorf("outbox rows: got %d, want 0", got)
	}
	if got := len(f.criticalTasks(t)); got != 0 {
		t.Errorf("tasks: got %d, want 0", got)
	}
	if got := f.logs.String(); got != "" {
		t.Errorf("4xx answers logged as failures: %s", got)
	}
}

// failed stores a request for tenantID and fails it.
func (f *fixture) failed(t *testing.T, tenantID, reason string) intake.Accepted {
	t.Helper()
	acc, err := f.intake.Submit(t.Context(), intake.Request{Source: intake.SourceCLI, TenantID: tenantID, TicketKey: "OPS-" + tenantID})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := f.intake.MarkFailed(t.Context(), acc.RequestID, reason); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	return acc
}

func TestRetryFailedTenantThroughAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	first := f.failed(t, "phoenix", "instance full")
	f.tenant(t, "phoenix", tenants.TenantFailed)

	if got := f.call(t, "POST", "/api/v1/tenants/phoenix/retry", "", false, nil); got.Status != http.StatusUnauthorized {
		t.Errorf("no token: got %d, want 401", got.Status)
	}
	got := f.call(t, "POST", "/api/v1/tenants/phoenix/retry", `{}`, true, http.Header{HeaderRequestedBy: {"grace"}})
	want := queue.OnboardAttemptTaskID(first.RequestID, 2)
	if got.Status != http.StatusAccepted || got.str("task_id") != want || got.str("status") != string(intake.StatusEnqueued) ||
		got.Body["request_id"] != float64(first.RequestID) {
		t.Fatalf("retry: got %d %s, want 202 with task %s enqueued", got.Status, got.Raw, want)
	}
	if tasks := f.criticalTasks(t); !strings.Contains(fmt.Sprint(tasks), want) {
		t.Errorf("critical queue: got %v, want %s on it", tasks, want)
	}
	rec, err := f.intake.Get(ctx, first.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != intake.StatusEnqueued || rec.Error != "" || rec.FinishedAt != nil || rec.TaskAttempt != 2 {
		t.Errorf("request after retry: got %+v, want enqueued attempt 2 with no error", rec)
	}
	var actor, details string
	if err := f.db.QueryRow(ctx, `SELECT actor, details::text FROM audit_log WHERE outcome = $1`, intake.OutcomeRetried).Scan(&actor, &details); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if actor != "bootstrap (grace)" || !strings.Contains(details, want) || !strings.Contains(details, "instance full") {
		t.Errorf("audit: got %s %s, want the bootstrap principal for grace retrying %s after instance full", actor, details, want)
	}

	// Now in flight: a second retry (a client retrying the POST) is refused
	// and told which task runs.
	again := f.api(t, "POST", "/api/v1/tenants/phoenix/retry", "")
	if again.Status != http.StatusConflict || again.str("task_id") != want || again.str("status") != string(intake.StatusEnqueued) ||
		again.str("tenant_id") != "phoenix" || again.Body["request_id"] != float64(first.RequestID) {
		t.Errorf("retry in flight: got %d %s, want 409 naming %s", again.Status, again.Raw, want)
	}
}

func TestRetryRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	// active: its tier did not match, the request failed, the tenant lives.
	f.failed(t, "active-co", "tier mismatch")
	f.tenant(t, "active-co", tenants.TenantActive)
	f.tenant(t, "gone-co", tenants.TenantOffboarded)
	// busy-co: failed once, a new request is in flight.
	f.failed(t, "busy-co", "boom")
	if _, err := f.intake.Submit(ctx, intake.Request{Source: intake.SourceCLI, TenantID: "busy-co"}); err != nil {
		t.Fatal(err)
	}
	// done-co: onboarded.
	acc, err := f.intake.Submit(ctx, intake.Request{Source: intake.SourceCLI, TenantID: "done-co"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.intake.MarkDone(ctx, acc.RequestID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tenant string
		body   string
		status int
	}{
		{"nobody", "", http.StatusNotFound},
		{"Not_A_Slug", "", http.StatusUnprocessableEntity},
		{"active-co", "", http.StatusConflict},
		{"gone-co", "", http.StatusConflict},
		{"busy-co", "", http.StatusConflict},
		{"done-co", "", http.StatusConflict},
		{"active-co", `{"force":true}`, http.StatusBadRequest},
		{"active-co", `[]`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		got := f.api(t, "POST", "/api/v1/tenants/"+tt.tenant+"/retry", tt.body)
		if got.Status != tt.status {
			t.Errorf("retry %s %s: got %d %s, want %d", tt.tenant, tt.body, got.Status, got.Raw, tt.status)
		}
	}
	if got := f.call(t, "POST", "/api/v1/tenants/busy-co/retry", "{}", true, http.Header{"Content-Type": {"text/plain"}}); got.Status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: got %d, want 415", got.Status)
	}
	if got := f.count(t, `SELECT count(*) FROM audit_log WHERE outcome = $1`, intake.OutcomeRetried); got != 0 {
		t.Errorf("retried audit entries: got %d, want 0", got)
	}
}
