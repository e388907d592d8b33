package intake

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// hiddenText is the oracle for characters no accepted text may hold:
// control, format (bidi, zero-width) and line/paragraph separators.
var hiddenText = regexp.MustCompile(`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]`)

// checkAccepted asserts what any request that passes normalize holds.
func checkAccepted(t *testing.T, r Request) {
	t.Helper()
	n, err := r.normalize()
	if err != nil {
		return
	}
	if err := tenants.ValidateID(n.TenantID); err != nil {
		t.Fatalf("accepted an invalid tenant id %q: %v", n.TenantID, err)
	}
	if !n.Tier.Valid() || !n.Source.Valid() {
		t.Fatalf("accepted tier %q source %q", n.Tier, n.Source)
	}
	if !utf8.ValidString(n.Name) || utf8.RuneCountInString(n.Name) > MaxNameLen || n.Name == "" {
		t.Fatalf("accepted name %q", n.Name)
	}
	for _, v := range []string{n.Name, n.TicketKey, n.DeliveryID, n.RequestedBy} {
		if hiddenText.MatchString(v) {
			t.Fatalf("accepted %q with a hidden character", v)
		}
	}
}

func FuzzParseJira(f *testing.F) {
	f.Add(jiraIssue(JiraIssueCreated, "OPS-1", "Acme", []string{"tenant:acme", "tier:dedicated"}, nil))
	f.Add(jiraIssue(JiraIssueUpdated, "OPS-2", "", []string{"tenant:acme'; drop table x; --"}, map[string]any{"customfield_10042": map[string]any{"value": "x"}}))
	f.Add(jiraIssue(JiraIssueCreated, "OPS-3", "B", nil, map[string]any{"customfield_10042": []any{[]any{"nested"}}}))
	f.Add([]byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"K","fields":{"project":{"key":"OPS"},"labels":null,"summary":null}}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"K","fields":{"project":{"key":"ops"},"issuetype":{"id":"10010"},"labels":["tenant:"]}}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"K","fields":{"project":{"key":"HR"},"labels":["tenant:acme"]}}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"K","fields":{"project":"OPS","issuetype":7,"labels":["tenant:acme"]}}}`))
	f.Add(jiraIssue(JiraIssueCreated, "OPS-4", "\u202eknaB emcA", []string{"tenant:acme"}, nil))
	f.Add(jiraIssue(JiraIssueCreated, "OPS-5\u200b", "Acme\u200bBank", []string{"tenant:acme"}, nil))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte("\xff"))
	m := JiraMapping{Projects: []string{testJiraProject}, IssueTypes: []string{"Task", "10010"}, TenantField: "customfield_10042"}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		r, ignored, err := parseJira(body, m)
		if err != nil || ignored != "" {
			return
		}
		// Accepted: the issue is of an allowed project and issue type.
		if !allowedScope(body) {
			t.Fatalf("accepted an issue outside the allowlist: %s", body)
		}
		if r.Source != SourceJira || r.TicketKey == "" {
			t.Fatalf("parsed %+v", r)
		}
		checkAccepted(t, r)
	})
}

// allowedScope is the fuzz oracle of FuzzParseJira's allowlist (project
// OPS, issue type Task or 10010, case-insensitively), written apart from
// JiraMapping.allows.
func allowedScope(body []byte) bool {
	var ev struct {
		Issue struct {
			Fields map[string]json.RawMessage `json:"fields"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return false
	}
	var project struct {
		Key string `json:"key"`
	}
	var issueType struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if json.Unmarshal(ev.Issue.Fields["project"], &project) != nil || json.Unmarshal(ev.Issue.Fields["issuetype"], &issueType) != nil {
		return false
	}
	typeOK := strings.EqualFold(issueType.Name, "task") || strings.EqualFold(issueType.Name, "10010") || issueType.ID == "10010"
	return strings.EqualFold(project.Key, "ops") && typeOK
}

func FuzzParseTicket(f *testing.F) {
	f.Add([]byte(`{"ticket_id":"T-1","tenant_id":"acme","name":"Acme","tier":"shared"}`))
	f.Add([]byte(`{"ticket_id":"T-1","tenant_id":"acme'; drop table x; --"}`))
	f.Add([]byte(`{"ticket_id":"","tenant_id":"acme"}`))
	f.Add([]byte(`{"ticket_id":"T","tenant_id":"a\u0000b","name":"\u0007"}`))
	f.Add([]byte(`{"ticket_id":"T","tenant_id":"acme","name":"\u202eknaB emcA"}`))
	f.Add([]byte(`{"ticket_id":"T","tenant_id":"acme","name":"Acme\u200b\u2066Bank\u2069","requested_by":"ada\u2028"}`))
	f.Add([]byte(`{"ticket_id":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseTicket(body)
		if err != nil {
			return
		}
		if r.Source != SourceTicket || r.TicketKey == "" {
			t.Fatalf("parsed %+v", r)
		}
		checkAccepted(t, r)
		checkAccepted(t, Request{TenantID: r.TenantID, Name: r.Name, Tier: r.Tier})
	})
}
