package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestErrorStatus pins the one error mapping: each agent's errors, wrapped
// or described, keep their status; anything unknown is 500.
func TestErrorStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want int
	}{
		{tenants.ErrTenantNotFound, 404},
		{fmt.Errorf("intake: get: %w", intake.ErrNotFound), 404},
		{describe(offboard.ErrNotFound, "no such request"), 404},
		{fmt.Errorf("%w: 9", migrate.ErrRunNotFound), 404},
		{badRequest("run id must be a positive integer"), 400},
		{fmt.Errorf("%w: want a JSON object", httpapi.ErrMalformedJSON), 400},
		{&intake.InvalidRequestError{Field: "tenant_id", Reason: "too long"}, 422},
		{tenants.ValidateID("Bad_ID"), 422},
		{fmt.Errorf("%w: action", offboard.ErrInvalidRequest), 422},
		{fmt.Errorf("%w: concurrency", migrate.ErrInvalidSpec), 422},
		{migrate.ErrNoTenants, 422},
		{migrate.ErrIdempotencyKeyReused, 422},
		{&intake.NotRetryableError{TenantID: "acme", Reason: "active"}, 409},
		{fmt.Errorf("%w: archive in flight", offboard.ErrConflict), 409},
		{fmt.Errorf("%w: run 3", migrate.ErrRunNotFinished), 409},
		{&http.MaxBytesError{Limit: 10}, 413},
		{&tenants.PoolExhaustedError{Pool: "shared-1", TenantID: "acme", RetryAfter: 2500 * time.Millisecond}, 503},
		{errors.New("pq: relation tenants does not exist"), 500},
		{describe(errors.New("boom"), "a nice message"), 500},
	} {
		if got := errorStatus(c.err); got != c.want {
			t.Errorf("errorStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestErrorBodies: a 500 never carries the cause, a 503 says when to
// retry, the intake's typed errors keep their fields.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	secret := errors.New(`connect to postgres://fleet:hunter2@db.internal/fleet failed`)
	if got := errorBody(rec, 500, secret); got != (ErrorJSON{Error: internalMessage}) {
		t.Errorf("500 body %+v, want only %q", got, internalMessage)
	}
	rec = httptest.NewRecorder()
	exhausted := &tenants.PoolExhaustedError{Pool: "shared-1", TenantID: "acme", RetryAfter: 2500 * time.Millisecond}
	if got := errorBody(rec, 503, exhausted); got != (ErrorJSON{Error: unavailableMessage}) || rec.Header().Get("Retry-After") != "3" {
		t.Errorf("503 body %+v Retry-After %q, want retry later in 3s", got, rec.Header().Get("Retry-After"))
	}
	inv := &intake.InvalidRequestError{Field: "name", Reason: "hidden character"}
	if got := errorBody(rec, 422, fmt.Errorf("wrapped: %w", inv)); got != (InvalidRequestJSON{Error: inv.Error(), Field: "name", Reason: "hidden character"}) {
		t.Errorf("422 body %+v, want field and reason", got)
	}
	nr := &intake.NotRetryableError{TenantID: "acme", Reason: "active", Request: &intake.Record{ID: 4, TaskAttempt: 2, OutboxState: controlplane.OutboxState{Status: intake.StatusDone}}}
	want := NotRetryableJSON{Error: nr.Error(), TenantID: "acme", RequestID: 4, TaskID: "onboard:4:attempt:2", Status: "done"}
	if got := errorBody(rec, 409, nr); got != want {
		t.Errorf("409 body %+v, want %+v", got, want)
	}
	if got := errorBody(rec, 404, describe(tenants.ErrTenantNotFound, "no tenant acme")); got != (ErrorJSON{Error: "no tenant acme"}) {
		t.Errorf("404 body %+v, want the described message", got)
	}
}
