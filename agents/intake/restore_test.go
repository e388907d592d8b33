package intake

import (
	"net/http"
	"testing"
)

// The generic ticket webhook and Submit carry the re-onboarding choice
// (restore the archived schema, or fresh) into the stored request. The
// API's part is infra/restapi's TestOnboardRestoreChoiceIsStored.
func TestRestoreChoiceIsStored(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ticket := e.ticket(t, "msg-restore-1", []byte(`{"ticket_id": "T-9", "tenant_id": "other-co", "restore": true}`))
	if ticket.Status != http.StatusAccepted {
		t.Fatalf("ticket: %d %s", ticket.Status, ticket.Raw)
	}
	restored, err := e.in.Submit(t.Context(), Request{Source: SourceCLI, TenantID: "comeback", Restore: true})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := e.in.Submit(t.Context(), Request{Source: SourceCLI, TenantID: "fresh-co"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   int64
		want bool
	}{{int64(ticket.Body["request_id"].(float64)), true}, {restored.RequestID, true}, {fresh.RequestID, false}} {
		rec, err := e.in.Get(t.Context(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Restore != c.want {
			t.Errorf("%s: restore %v, want %v", rec.TenantID, rec.Restore, c.want)
		}
	}
}
