package intake

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func TestJiraAllowlist(t *testing.T) {
	t.Parallel()
	issue := func(project, issueType any) []byte {
		return jiraIssue(JiraIssueCreated, "K-1", "Acme", []string{"tenant:acme"}, map[string]any{"project": project, "issuetype": issueType})
	}
	ops := map[string]any{"key": "OPS"}
	task := map[string]any{"id": "10002", "name": "Task"}
	onboarding := map[string]any{"id": "10010", "name": "Onboarding"}
	tests := []struct {
		name    string
		m       JiraMapping
		body    []byte
		allowed bool
		why     string // in the refusal
	}{
		{"allowed project", JiraMapping{Projects: []string{"OPS"}}, issue(ops, task), true, ""},
		{"project key in another case", JiraMapping{Projects: []string{"ops"}}, issue(ops, task), true, ""},
		{"one of several projects", JiraMapping{Projects: []string{"HR", "OPS"}}, issue(ops, task), true, ""},
		{"empty allowlist refuses all", JiraMapping{}, issue(ops, task), false, "allowlist is empty"},
		{"other project", JiraMapping{Projects: []string{"OPS"}}, issue(map[string]any{"key": "HR"}, task), false, `project "HR"`},
		{"project prefix is not the project", JiraMapping{Projects: []string{"OPS"}}, issue(map[string]any{"key": "OPSX"}, task), false, "project"},
		{"no project field", JiraMapping{Projects: []string{"OPS"}}, issue(nil, task), false, "project"},
		{"project not an object", JiraMapping{Projects: []string{"OPS"}}, issue("OPS", task), false, "project"},
		{"issue type by name", JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"onboarding"}}, issue(ops, onboarding), true, ""},
		{"issue type by id", JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"10010"}}, issue(ops, onboarding), true, ""},
		{"other issue type", JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"Onboarding"}}, issue(ops, task), false, `issue type "Task"`},
		{"no issue type", JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"Onboarding"}}, issue(ops, nil), false, "issue type"},
		{"issue type of the wrong shape", JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"10010"}},
			issue(ops, map[string]any{"id": "10010", "name": 5}), false, "issue type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, ignored, err := parseJira(tt.body, tt.m.withDefaults())
			var refused *jiraNotAllowedError
			if tt.allowed {
				if err != nil || ignored != "" || r.TenantID != "acme" {
					t.Fatalf("got %+v, %q, %v; want the request for acme", r, ignored, err)
				}
				return
			}
			if !errors.As(err, &refused) || !strings.Contains(refused.why, tt.why) {
				t.Fatalf("got %+v, %q, %v; want refused with %q", r, ignored, err, tt.why)
			}
		})
	}
}

// TestJiraAllowlistRefusesBeforeReadingFields: an issue of a project that
// may not onboard is refused before its labels are read, so even a broken
// tenant label answers 200, not 422.
func TestJiraAllowlistRefusesBeforeReadingFields(t *testing.T) {
	t.Parallel()
	body := jiraIssue(JiraIssueCreated, "HR-1", "x", []string{"tenant:a", "tenant:b"}, map[string]any{"project": map[string]any{"key": "HR"}})
	_, _, err := parseJira(body, JiraMapping{Projects: []string{"OPS"}}.withDefaults())
	var refused *jiraNotAllowedError
	if !errors.As(err, &refused) {
		t.Fatalf("got %v, want a refusal", err)
	}
}

// TestJiraWebhookAllowlist: correctly signed deliveries from a project or
// issue type that may not onboard answer 200 ignored (Jira retries
// anything else), store nothing, enqueue nothing, run no SQL, and leave a
// warning naming the project; the allowed ones onboard.
func TestJiraWebhookAllowlist(t *testing.T) {
	t.Parallel()
	logs := &cptest.SyncBuffer{}
	e := setup(t, func(c *Config) {
		c.Jira = JiraMapping{Projects: []string{"OPS"}, IssueTypes: []string{"Onboarding", "10011"}}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	issue := func(key, project string, issueType map[string]any, tenant string) []byte {
		return jiraIssue(JiraIssueCreated, key, "Acme", []string{"tenant:" + tenant},
			map[string]any{"project": map[string]any{"key": project}, "issuetype": issueType})
	}
	onboarding := map[string]any{"id": "10010", "name": "Onboarding"}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"other project", issue("HR-1", "HR", onboarding, "hr-co")},
		{"allowed project, other issue type", issue("OPS-1", "OPS", map[string]any{"id": "10002", "name": "Task"}, "task-co")},
		{"no project", jiraIssue(JiraIssueCreated, "X-1", "Acme", []string{"tenant:nop-co"}, map[string]any{"project": nil})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.jira(t, "d-"+tc.name, tc.body)
			if got.Status != http.StatusOK || got.Body["ignored"] != true || got.str("reason") == "" {
				t.Fatalf("got %d %s, want 200 ignored with a reason", got.Status, got.Raw)
			}
		})
	}
	if n := e.touched.Count(); n != 0 {
		t.Errorf("database touched %d times by refused deliveries, want 0", n)
	}
	if n := len(e.criticalTasks(t)); n != 0 {
		t.Errorf("tasks: got %d, want 0", n)
	}
	if l := logs.String(); !strings.Contains(l, "jira onboarding refused") || !strings.Contains(l, "project=HR") ||
		strings.Contains(l, testJiraSecret) || strings.Contains(l, "sha256=") {
		t.Errorf("logs: got %q, want a refusal naming the project and no secret or signature", l)
	}
	for _, tc := range []struct {
		key, tenant string
		issueType   map[string]any
	}{
		{"OPS-2", "ok-by-name", map[string]any{"id": "99", "name": "onboarding"}},
		{"OPS-3", "ok-by-id", map[string]any{"id": "10011", "name": "Renamed"}},
	} {
		got := e.jira(t, "d-"+tc.key, issue(tc.key, "OPS", tc.issueType, tc.tenant))
		if got.Status != http.StatusAccepted || got.str("tenant_id") != tc.tenant {
			t.Fatalf("%s: got %d %s, want 202", tc.key, got.Status, got.Raw)
		}
	}
	if n := e.rows(t); n != 2 {
		t.Errorf("outbox rows: got %d, want 2", n)
	}
}

// TestJiraWebhookNoProjects: with no project allowed (the default), a
// signed onboarding delivery onboards nothing, and New warns at start.
func TestJiraWebhookNoProjects(t *testing.T) {
	t.Parallel()
	logs := &cptest.SyncBuffer{}
	e := setup(t, func(c *Config) {
		c.Jira = JiraMapping{}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if l := logs.String(); !strings.Contains(l, "Jira onboarding is off") {
		t.Errorf("start-up logs: got %q, want the warning that Jira onboarding is off", l)
	}
	got := e.jira(t, "d-1", jiraIssue(JiraIssueCreated, "OPS-1", "Acme", []string{"tenant:acme"}, nil))
	if got.Status != http.StatusOK || got.Body["ignored"] != true || !strings.Contains(got.str("reason"), "allowlist is empty") {
		t.Fatalf("got %d %s, want 200 ignored: the allowlist is empty", got.Status, got.Raw)
	}
	if n := e.touched.Count(); n != 0 {
		t.Errorf("database touched %d times, want 0", n)
	}
}

func TestJiraAllowlistConfig(t *testing.T) {
	t.Parallel()
	for _, m := range []JiraMapping{
		{Projects: []string{"bad key"}},
		{Projects: []string{"OPS"}, IssueTypes: []string{"Task,Bug"}},
		{Projects: []string{"OPS"}, IssueTypes: []string{"Task\u202e"}},
		{Projects: []string{"OPS"}, IssueTypes: []string{""}},
	} {
		if err := m.withDefaults().validate(); err == nil {
			t.Errorf("%+v: got nil, want an error", m)
		}
	}
}
