package intake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
)

func TestSubmitDefaults(t *testing.T) {
	t.Parallel()
	e := setup(t)
	acc, err := e.in.Submit(t.Context(), Request{Source: SourceCLI, TenantID: "umbrella"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	rec, err := e.in.Get(t.Context(), acc.RequestID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got := fmt.Sprint(rec.Source, rec.Name, rec.Tier, rec.RequestedBy, rec.Status, rec.Attempts, acc.TaskID)
	want := fmt.Sprint(SourceCLI, "umbrella", "shared", "cli", StatusEnqueued, 1, queue.OnboardTaskID(acc.RequestID))
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := e.in.Submit(t.Context(), Request{TenantID: "Umbrella"}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("invalid id: got %v, want ErrInvalidRequest", err)
	}
	if _, err := e.in.Submit(t.Context(), Request{Source: "fax", TenantID: "umbrella"}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("unknown source: got %v, want ErrInvalidRequest", err)
	}
}

// TestInflightTenantJoins: a second ticket for a tenant whose onboarding is
// in flight joins it; once that one finished, a new request is stored.
func TestInflightTenantJoins(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first := e.ticket(t, "m1", mustJSON(ticketBody{TicketID: "T-1", TenantID: "stark"}))
	second := e.jira(t, "j1", jiraIssue(JiraIssueCreated, "OPS-1", "Stark", []string{"tenant:stark"}, nil))
	if second.Status != http.StatusAccepted || second.str("task_id") != first.str("task_id") || second.Body["duplicate"] != true {
		t.Fatalf("second: got %s, want duplicate of %s", second.Raw, first.Raw)
	}
	if err := e.in.MarkFailed(t.Context(), int64(first.Body["request_id"].(float64)), "instance full"); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	retry, err := e.in.Submit(t.Context(), Request{TenantID: "stark"})
	if err != nil {
		t.Fatalf("Submit after failure: %v", err)
	}
	if retry.Duplicate || retry.TaskID == first.str("task_id") {
		t.Errorf("after failure: got %+v, want a new request", retry)
	}
}

func TestMarkAndWait(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	acc, err := e.in.Submit(ctx, Request{TenantID: "wayne", Name: "Wayne Enterprises"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		rec, err := e.in.Wait(ctx, acc.RequestID)
		if err == nil && rec.Status != StatusDone {
			err = fmt.Errorf("status %s", rec.Status)
		}
		done <- err
	}()
	if err := e.in.MarkDone(ctx, acc.RequestID); err != nil {
		t.Fatalf("MarkDone: %v", err)
	}
	if err := e.in.MarkDone(ctx, acc.RequestID); err != nil {
		t.Fatalf("MarkDone again: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	rec, err := e.in.Get(ctx, acc.RequestID)
	if err != nil || rec.FinishedAt == nil {
		t.Fatalf("Get: %+v, %v; want finished_at set", rec, err)
	}
	if err := e.in.MarkFailed(ctx, acc.RequestID, "late"); !errors.Is(err, ErrAlreadyDone) {
		t.Errorf("MarkFailed on done: got %v, want ErrAlreadyDone", err)
	}
	if err := e.in.MarkDone(ctx, 424242); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkDone unknown: got %v, want ErrNotFound", err)
	}
	if got, want := fmt.Sprint(e.auditOutcomes(t)), fmt.Sprint(map[string]int{"accepted": 1, "done": 1}); got != want {
		t.Errorf("audit: got %s, want %s", got, want)
	}
	// A Jira redelivery of a finished ticket answers without enqueuing.
	timeout, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	acc2, err := e.in.Submit(ctx, Request{TenantID: "other", DeliveryID: "x"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if _, err := e.in.Wait(timeout, acc2.RequestID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on unfinished with deadline: got %v, want DeadlineExceeded", err)
	}
}

// TestEnqueueFailureLeavesPending: with Redis unreachable the request is
// still stored and answered; the reconciler enqueues it later.
func TestEnqueueFailureLeavesPending(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dead.Close() })
	offline, err := New(Config{DB: e.db, Queue: queue.NewClient(dead), Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	acc, err := offline.Submit(t.Context(), Request{TenantID: "cyberdyne"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if acc.Status != StatusPending {
		t.Errorf("status: got %s, want pending", acc.Status)
	}
	n, err := e.in.Reconcile(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Reconcile: got %d, %v; want 1", n, err)
	}
	rec, _ := e.in.Get(t.Context(), acc.RequestID)
	if rec.Status != StatusEnqueued || rec.Attempts != 1 {
		t.Errorf("after reconcile: got %s attempts %d, want enqueued 1", rec.Status, rec.Attempts)
	}
}
