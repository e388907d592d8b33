package intake

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// retry posts to the retry route with the token.
func (e *env) retry(t *testing.T, tenantID string, body []byte, header http.Header) answer {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Authorization", "Bearer "+testToken)
	return e.post(t, "/api/v1/tenants/"+tenantID+"/retry", body, header)
}

// failed stores a request for tenantID and fails it.
func (e *env) failed(t *testing.T, tenantID, reason string) Accepted {
	t.Helper()
	acc, err := e.in.Submit(t.Context(), Request{TenantID: tenantID, TicketKey: "OPS-" + tenantID})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := e.in.MarkFailed(t.Context(), acc.RequestID, reason); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	return acc
}

func TestRetryFailedTenantThroughAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	first := e.failed(t, "phoenix", "instance full")
	if _, err := controlplane.NewStore(e.db).CreateTenant(ctx, controlplane.Tenant{ID: "phoenix", Name: "Phoenix",
		Tier: tenants.Shared, Status: tenants.TenantFailed}); err != nil {
		t.Fatal(err)
	}

	if got := e.post(t, "/api/v1/tenants/phoenix/retry", nil, nil); got.Status != http.StatusUnauthorized {
		t.Errorf("no token: got %d, want 401", got.Status)
	}
	h := http.Header{}
	h.Set(HeaderRequestedBy, "grace")
	got := e.retry(t, "phoenix", []byte(`{}`), h)
	want := OnboardTaskID(first.RequestID, 2)
	if got.Status != http.StatusAccepted || got.str("task_id") != want || got.str("status") != string(StatusEnqueued) ||
		got.Body["request_id"] != float64(first.RequestID) {
		t.Fatalf("retry: got %d %s, want 202 with task %s enqueued", got.Status, got.Raw, want)
	}
	if tasks := e.criticalTasks(t); !strings.Contains(fmt.Sprint(tasks), want) {
		t.Errorf("critical queue: got %v, want %s on it", tasks, want)
	}
	rec, err := e.in.Get(ctx, first.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StatusEnqueued || rec.Error != "" || rec.FinishedAt != nil || rec.TaskAttempt != 2 {
		t.Errorf("request after retry: got %+v, want enqueued attempt 2 with no error", rec)
	}
	var actor, details string
	if err := e.db.QueryRow(ctx, `SELECT actor, details::text FROM audit_log WHERE outcome = $1`, OutcomeRetried).Scan(&actor, &details); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if actor != "grace" || !strings.Contains(details, want) || !strings.Contains(details, "instance full") {
		t.Errorf("audit: got %s %s, want grace retrying %s after instance full", actor, details, want)
	}

	// Now in flight: a second retry (a client retrying the POST) is refused
	// and told which task runs.
	again := e.retry(t, "phoenix", nil, nil)
	if again.Status != http.StatusConflict || again.str("task_id") != want || again.str("status") != string(StatusEnqueued) {
		t.Errorf("retry in flight: got %d %s, want 409 naming %s", again.Status, again.Raw, want)
	}
}

func TestRetryRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	catalog := controlplane.NewStore(e.db)
	// active: its tier did not match, the request failed, the tenant lives.
	e.failed(t, "active-co", "tier mismatch")
	if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: "active-co", Name: "A", Tier: tenants.Shared, Status: tenants.TenantActive}); err != nil {
		t.Fatal(err)
	}
	// gone-co: offboarded.
	if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: "gone-co", Name: "G", Tier: tenants.Shared, Status: tenants.TenantOffboarded}); err != nil {
		t.Fatal(err)
	}
	// busy-co: failed once, a new request is in flight.
	e.failed(t, "busy-co", "boom")
	if _, err := e.in.Submit(ctx, Request{TenantID: "busy-co"}); err != nil {
		t.Fatal(err)
	}
	// done-co: onboarded.
	acc, err := e.in.Submit(ctx, Request{TenantID: "done-co"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.in.MarkDone(ctx, acc.RequestID); err != nil {
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
		got := e.retry(t, tt.tenant, []byte(tt.body), nil)
		if got.Status != tt.status {
			t.Errorf("retry %s %s: got %d %s, want %d", tt.tenant, tt.body, got.Status, got.Raw, tt.status)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/api/v1/tenants/busy-co/retry", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/plain")
	if got := e.do(t, req); got.Status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: got %d, want 415", got.Status)
	}
	if got := e.auditOutcomes(t)[OutcomeRetried]; got != 0 {
		t.Errorf("retried audit entries: got %d, want 0", got)
	}
	if _, err := e.in.Retry(ctx, "gone-co", "x\x00y"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("control character in by: got %v, want ErrInvalidRequest", err)
	}
}

// TestRetryConcurrently: of several retries at once, one reopens the
// request; the others are refused.
func TestRetryConcurrently(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first := e.failed(t, "racer", "boom")
	const n = 6
	errs := make([]error, n)
	accs := make([]Accepted, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { accs[i], errs[i] = e.in.Retry(t.Context(), "racer", "ops") })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if accs[i].TaskID != OnboardTaskID(first.RequestID, 2) {
				t.Errorf("task id: got %s, want attempt 2", accs[i].TaskID)
			}
		case !errors.Is(err, ErrNotRetryable):
			t.Errorf("retry %d: %v, want ErrNotRetryable", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("successful retries: got %d, want 1", ok)
	}
	if got := e.auditOutcomes(t)[OutcomeRetried]; got != 1 {
		t.Errorf("retried audit entries: got %d, want 1", got)
	}
	// Without a tenant row (it failed before the agent claimed it), a
	// failed request is retryable; a new request for the tenant joins it.
	dup, err := e.in.Submit(t.Context(), Request{TenantID: "racer"})
	if err != nil || !dup.Duplicate || dup.TaskID != OnboardTaskID(first.RequestID, 2) {
		t.Errorf("submit after retry: got %+v, %v; want a duplicate of the retried request", dup, err)
	}
}
