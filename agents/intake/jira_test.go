package intake

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJira(t *testing.T) {
	t.Parallel()
	ops := []string{testJiraProject}
	def := JiraMapping{Projects: ops}.withDefaults()
	field := JiraMapping{Projects: ops, TenantField: "customfield_10042", TierField: "customfield_10043"}.withDefaults()
	tests := []struct {
		name    string
		m       JiraMapping
		body    []byte
		want    Request // compared on TenantID, Tier, Name, TicketKey
		ignored bool
		errIs   error
		field   string // of an *InvalidRequestError
	}{
		{
			name: "labels, default tier",
			m:    def,
			body: jiraIssue(JiraIssueCreated, "OPS-1", "  Acme Bank ", []string{"urgent", "tenant:acme-bank"}, nil),
			want: Request{TenantID: "acme-bank", Tier: "shared", Name: "Acme Bank", TicketKey: "OPS-1"},
		},
		{
			name: "tier label",
			m:    def,
			body: jiraIssue(JiraIssueUpdated, "OPS-2", "Beta", []string{"tier:dedicated", "tenant:beta"}, nil),
			want: Request{TenantID: "beta", Tier: "dedicated", Name: "Beta", TicketKey: "OPS-2"},
		},
		{
			name: "same label twice is fine",
			m:    def,
			body: jiraIssue(JiraIssueCreated, "OPS-3", "C", []string{"tenant:gamma", "tenant:gamma"}, nil),
			want: Request{TenantID: "gamma", Tier: "shared", Name: "C", TicketKey: "OPS-3"},
		},
		{
			name: "text custom field wins over the label",
			m:    field,
			body: jiraIssue(JiraIssueCreated, "OPS-4", "D", []string{"tenant:label"}, map[string]any{"customfield_10042": " delta "}),
			want: Request{TenantID: "delta", Tier: "shared", Name: "D", TicketKey: "OPS-4"},
		},
		{
			name: "select custom fields",
			m:    field,
			body: jiraIssue(JiraIssueCreated, "OPS-5", "E", nil, map[string]any{
				"customfield_10042": map[string]any{"value": "echo", "id": "10100"},
				"customfield_10043": map[string]any{"value": "dedicated"},
			}),
			want: Request{TenantID: "echo", Tier: "dedicated", Name: "E", TicketKey: "OPS-5"},
		},
		{
			name: "one-item list field",
			m:    field,
			body: jiraIssue(JiraIssueCreated, "OPS-6", "F", nil, map[string]any{"customfield_10042": []string{"foxtrot"}}),
			want: Request{TenantID: "foxtrot", Tier: "shared", Name: "F", TicketKey: "OPS-6"},
		},
		{
			name: "empty custom field falls back to the label",
			m:    field,
			body: jiraIssue(JiraIssueCreated, "OPS-7", "G", []string{"tenant:golf"}, map[string]any{"customfield_10042": nil}),
			want: Request{TenantID: "golf", Tier: "shared", Name: "G", TicketKey: "OPS-7"},
		},
		{
			name: "custom prefixes",
			m:    JiraMapping{Projects: ops, TenantLabelPrefix: "onboard-", TierLabelPrefix: "placement-", DefaultTier: "dedicated"}.withDefaults(),
			body: jiraIssue(JiraIssueCreated, "OPS-8", "H", []string{"onboard-hotel"}, nil),
			want: Request{TenantID: "hotel", Tier: "dedicated", Name: "H", TicketKey: "OPS-8"},
		},
		{
			name:    "other event",
			m:       def,
			body:    jiraIssue("jira:issue_deleted", "OPS-9", "I", []string{"tenant:india"}, nil),
			ignored: true,
		},
		{
			name:    "no tenant",
			m:       def,
			body:    jiraIssue(JiraIssueCreated, "OPS-10", "J", []string{"tier:dedicated"}, nil),
			ignored: true,
		},
		{
			name:    "no issue",
			m:       def,
			body:    []byte(`{"webhookEvent":"jira:issue_created"}`),
			ignored: true,
		},
		{
			name:  "two tenant labels",
			m:     def,
			body:  jiraIssue(JiraIssueCreated, "OPS-11", "K", []string{"tenant:kilo", "tenant:lima"}, nil),
			errIs: ErrInvalidRequest,
			field: "tenant_id",
		},
		{
			name:  "empty tenant label",
			m:     def,
			body:  jiraIssue(JiraIssueCreated, "OPS-12", "L", []string{"tenant:"}, nil),
			errIs: ErrInvalidRequest,
			field: "tenant_id",
		},
		{
			name:  "numeric custom field",
			m:     field,
			body:  jiraIssue(JiraIssueCreated, "OPS-13", "M", nil, map[string]any{"customfield_10042": 42}),
			errIs: ErrInvalidRequest,
			field: "tenant_id",
		},
		{
			name:  "two-item list field",
			m:     field,
			body:  jiraIssue(JiraIssueCreated, "OPS-14", "N", nil, map[string]any{"customfield_10042": []string{"a", "b"}}),
			errIs: ErrInvalidRequest,
			field: "tenant_id",
		},
		{
			name:  "no issue key",
			m:     def,
			body:  jiraIssue(JiraIssueCreated, "", "O", []string{"tenant:oscar"}, nil),
			errIs: ErrInvalidRequest,
			field: "ticket_id",
		},
		{
			name:  "labels not a list",
			m:     def,
			body:  []byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"OPS-1","fields":{"project":{"key":"OPS"},"labels":"tenant:x"}}}`),
			errIs: ErrMalformed,
		},
		{
			name:  "truncated JSON",
			m:     def,
			body:  []byte(`{"webhookEvent":"jira:issue_created","issue":{`),
			errIs: ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ignored, err := parseJira(tt.body, tt.m)
			if tt.errIs != nil {
				if !errors.Is(err, tt.errIs) {
					t.Fatalf("err: got %v, want %v", err, tt.errIs)
				}
				var inv *InvalidRequestError
				if tt.field != "" && (!errors.As(err, &inv) || inv.Field != tt.field) {
					t.Errorf("err: got %v, want field %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("err: got %v, want nil", err)
			}
			if (ignored != "") != tt.ignored {
				t.Fatalf("ignored: got %q, want %v", ignored, tt.ignored)
			}
			if tt.ignored {
				return
			}
			if got.TenantID != tt.want.TenantID || got.Tier != tt.want.Tier || got.Name != tt.want.Name ||
				got.TicketKey != tt.want.TicketKey || got.Source != SourceJira {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.RequestedBy != "jira:5b10a2844c20165700ede21g" {
				t.Errorf("requested_by: got %q", got.RequestedBy)
			}
		})
	}
}

func TestParseJiraTruncatesSummary(t *testing.T) {
	t.Parallel()
	body := jiraIssue(JiraIssueCreated, "OPS-1", strings.Repeat("é", MaxNameLen+50), []string{"tenant:acme"}, nil)
	got, _, err := parseJira(body, JiraMapping{Projects: []string{testJiraProject}}.withDefaults())
	if err != nil {
		t.Fatalf("parseJira: %v", err)
	}
	if _, err := got.normalize(); err != nil {
		t.Errorf("normalize: got %v, want a valid request", err)
	}
}
