package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func TestRecord(t *testing.T) {
	t.Parallel()
	_, db := cptest.Database(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		entry   audit.Entry
		wantErr error
		details string
	}{
		{"full", audit.Entry{Actor: "jira:ada", Action: "tenant.onboard", TenantID: "acme", Ticket: "OPS-1",
			Outcome: audit.OutcomeAccepted, Details: map[string]any{"request_id": 7}, At: at}, nil, `{"request_id": 7}`},
		{"minimal", audit.Entry{Actor: "api", Action: "tenant.onboard", Outcome: audit.OutcomeDone}, nil, `{}`},
		{"no actor", audit.Entry{Action: "x", Outcome: "y"}, audit.ErrInvalidEntry, ""},
		{"no outcome", audit.Entry{Actor: "x", Action: "y"}, audit.ErrInvalidEntry, ""},
	}
	for _, tt := range tests {
		err := audit.Record(ctx, db, tt.entry)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: got %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		var details string
		var gotAt time.Time
		err = db.QueryRow(ctx, `SELECT details::text, at FROM audit_log WHERE actor = $1 AND outcome = $2`,
			tt.entry.Actor, tt.entry.Outcome).Scan(&details, &gotAt)
		if err != nil {
			t.Fatalf("%s: read back: %v", tt.name, err)
		}
		if details != tt.details {
			t.Errorf("%s: details got %s, want %s", tt.name, details, tt.details)
		}
		if !tt.entry.At.IsZero() && !gotAt.Equal(at) {
			t.Errorf("%s: at got %v, want %v", tt.name, gotAt, at)
		}
	}
}
