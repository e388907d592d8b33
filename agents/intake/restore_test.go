package intake

import (
	"net/http"
	"testing"
)

// The API and the generic ticket webhook carry the re-onboarding choice
// (restore the archived schema, or fresh) into the stored request.
func TestRestoreChoiceIsStored(t *testing.T) {
	t.Parallel()
	e := setup(t)
	api := e.api(t, []byte(`{"tenant_id": "comeback", "name": "Comeback", "restore": true}`), nil)
	if api.Status != http.StatusAccepted {
		t.Fatalf("api: %d %s", api.Status, api.Raw)
	}
	ticket := e.ticket(t, "msg-restore-1", []byte(`{"ticket_id": "T-9", "tenant_id": "other-co", "restore": true}`))
	if ticket.Status != http.StatusAccepted {
		t.Fatalf("ticket: %d %s", ticket.Status, ticket.Raw)
	}
	fresh := e.api(t, []byte(`{"tenant_id": "fresh-co"}`), nil)
	for _, c := range []struct {
		a    answer
		want bool
	}{{api, true}, {ticket, true}, {fresh, false}} {
		rec, err := e.in.Get(t.Context(), int64(c.a.Body["request_id"].(float64)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Restore != c.want {
			t.Errorf("%s: restore %v, want %v", rec.TenantID, rec.Restore, c.want)
		}
	}
	if got := e.api(t, []byte(`{"tenant_id": "x-co", "restore": "yes"}`), nil); got.Status != http.StatusBadRequest {
		t.Errorf("restore as a string: %d, want 400", got.Status)
	}
}
