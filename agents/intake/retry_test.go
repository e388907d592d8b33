package intake

import (
	"errors"
	"sync"
	"testing"

	"github.com/tenantfleet/tenantfleet/queue"
)

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

// TestRetryRefusesBadRequester: who asks is checked before any SQL. The
// HTTP refusals are infra/restapi's TestRetryRefusals.
func TestRetryRefusesBadRequester(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.in.Retry(t.Context(), "gone-co", "x\x00y"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("control character in by: got %v, want ErrInvalidRequest", err)
	}
	if _, err := e.in.Retry(t.Context(), "Not_A_Slug", "ops"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("invalid tenant id: got %v, want ErrInvalidRequest", err)
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times by refused retries, want 0", got)
	}
	if _, err := e.in.Retry(t.Context(), "nobody", "ops"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tenant: got %v, want ErrNotFound", err)
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
			if accs[i].TaskID != queue.OnboardAttemptTaskID(first.RequestID, 2) {
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
	if err != nil || !dup.Duplicate || dup.TaskID != queue.OnboardAttemptTaskID(first.RequestID, 2) {
		t.Errorf("submit after retry: got %+v, %v; want a duplicate of the retried request", dup, err)
	}
}
