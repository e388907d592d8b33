package intake

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestIsolationFromEverySource: a Jira label isolation:strict, the ticket
// body's isolation field, or none (pooled); an unknown level is refused
// naming the field, and two different labels are an error.
func TestIsolationFromEverySource(t *testing.T) {
	t.Parallel()
	m := JiraMapping{Projects: []string{testJiraProject}}.withDefaults()
	for _, tc := range []struct {
		labels []string
		want   tenants.Isolation
	}{
		{[]string{"tenant:acme", "isolation:strict"}, tenants.Strict},
		{[]string{"tenant:acme"}, ""},
	} {
		r, _, err := parseJira(jiraIssue(JiraIssueCreated, "OPS-1", "Acme", tc.labels, nil), m)
		if err != nil || r.Isolation != tc.want {
			t.Errorf("labels %v: isolation %q, %v; want %q", tc.labels, r.Isolation, err, tc.want)
		}
	}
	if _, _, err := parseJira(jiraIssue(JiraIssueCreated, "OPS-1", "Acme", []string{"tenant:acme", "isolation:strict", "isolation:pooled"}, nil), m); err == nil {
		t.Error("two isolation labels: accepted")
	}
	r, err := parseTicket([]byte(`{"ticket_id":"T-1","tenant_id":"acme","isolation":"strict"}`))
	if err != nil || r.Isolation != tenants.Strict {
		t.Fatalf("ticket: %q, %v", r.Isolation, err)
	}
	for level, want := range map[tenants.Isolation]tenants.Isolation{"": tenants.Pooled, tenants.Strict: tenants.Strict} {
		got, err := Request{Source: SourceAPI, TenantID: "acme", Isolation: level}.normalize()
		if err != nil || got.Isolation != want {
			t.Errorf("isolation %q: got %q, %v; want %q", level, got.Isolation, err, want)
		}
	}
	_, err = Request{Source: SourceAPI, TenantID: "acme", Isolation: "airgapped"}.normalize()
	var invalid *InvalidRequestError
	if !errors.As(err, &invalid) || invalid.Field != "isolation" {
		t.Errorf("isolation airgapped: got %v, want an invalid request naming isolation", err)
	}
}
