package intake

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/queue"
)

func TestJiraSameDeliveryConcurrently(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := jiraIssue(JiraIssueCreated, "OPS-1", "Acme Bank", []string{"tenant:acme-bank", "tier:dedicated"}, nil)

	const n = 10
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = e.jira(t, "delivery-1", body) })
	}
	wg.Wait()

	taskIDs := map[string]bool{}
	duplicates := 0
	for i, a := range answers {
		if a.Status != http.StatusAccepted {
			t.Fatalf("answer %d: got %d %s, want 202", i, a.Status, a.Raw)
		}
		if got := a.str("tenant_id"); got != "acme-bank" {
			t.Errorf("answer %d: tenant_id got %q, want acme-bank", i, got)
		}
		taskIDs[a.str("task_id")] = true
		if a.Body["duplicate"] == true {
			duplicates++
		}
	}
	if len(taskIDs) != 1 {
		t.Fatalf("task ids: got %v, want one", taskIDs)
	}
	if duplicates != n-1 {
		t.Errorf("duplicates: got %d, want %d", duplicates, n-1)
	}
	if got := e.rows(t); got != 1 {
		t.Errorf("outbox rows: got %d, want 1", got)
	}
	tasks := e.criticalTasks(t)
	if len(tasks) != 1 || !taskIDs[tasks[0]] {
		t.Errorf("critical queue: got %v, want the one task %v", tasks, taskIDs)
	}
	if got, want := e.auditOutcomes(t), map[string]int{"accepted": 1, "duplicate": n - 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit outcomes: got %v, want %v", got, want)
	}
}

func TestJiraIssueKeyOnboardsOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	created := e.jira(t, "d-1", jiraIssue(JiraIssueCreated, "OPS-7", "Acme", []string{"tenant:acme"}, nil))
	if created.Status != http.StatusAccepted {
		t.Fatalf("created: got %d %s, want 202", created.Status, created.Raw)
	}
	// Later edits of the issue are new deliveries of the same ticket, even
	// one that changes the tenant label: no second onboarding.
	for i, labels := range [][]string{{"tenant:acme"}, {"tenant:acme", "tier:dedicated"}, {"tenant:other"}} {
		a := e.jira(t, fmt.Sprintf("d-upd-%d", i), jiraIssue(JiraIssueUpdated, "OPS-7", "Acme Corp", labels, nil))
		if a.Status != http.StatusAccepted {
			t.Fatalf("update %d: got %d %s, want 202", i, a.Status, a.Raw)
		}
		if a.str("task_id") != created.str("task_id") || a.str("tenant_id") != "acme" || a.Body["duplicate"] != true {
			t.Errorf("update %d: got %s, want duplicate of %s", i, a.Raw, created.Raw)
		}
	}
	if got := e.rows(t); got != 1 {
		t.Errorf("outbox rows: got %d, want 1", got)
	}
	if got := len(e.criticalTasks(t)); got != 1 {
		t.Errorf("tasks: got %d, want 1", got)
	}
}

func TestJiraSignatureRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := jiraIssue(JiraIssueCreated, "OPS-2", "Acme", []string{"tenant:acme"}, nil)
	flipped := bytes.Clone(body)
	flipped[len(flipped)/2] ^= 1
	valid := signHub(testJiraSecret, body)
	tests := []struct {
		name string
		sig  string
		body []byte
	}{
		{"missing", "", body},
		{"garbage", "not a signature", body},
		{"sha1", "sha1=" + strings.Repeat("ab", 20), body},
		{"bare hex", strings.TrimPrefix(valid, "sha256="), body},
		{"short hex", valid[:len(valid)-2], body},
		{"wrong secret", signHub("other-secret", body), body},
		{"one byte changed", valid, flipped},
		{"uppercase algo", "SHA256=" + strings.TrimPrefix(valid, "sha256="), body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.sig != "" {
				h.Set(HeaderHubSignature, tt.sig)
			}
			got := e.post(t, "/webhooks/jira", tt.body, h)
			if got.Status != http.StatusUnauthorized {
				t.Errorf("got %d %s, want 401", got.Status, got.Raw)
			}
			if strings.Contains(got.Raw, strings.TrimPrefix(valid, "sha256=")) {
				t.Errorf("answer quotes the signature: %s", got.Raw)
			}
		})
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times by refused webhooks, want 0", got)
	}
	if got := e.rows(t); got != 0 {
		t.Errorf("outbox rows: got %d, want 0", got)
	}
}

func TestWebhookWithoutSecretRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.JiraSecret, c.TicketSecret = "", "" })
	body := jiraIssue(JiraIssueCreated, "OPS-3", "Acme", []string{"tenant:acme"}, nil)
	// Signed with the empty secret: still refused.
	h := http.Header{}
	h.Set(HeaderHubSignature, signHub("", body))
	if got := e.post(t, "/webhooks/jira", body, h); got.Status != http.StatusUnauthorized {
		t.Errorf("jira: got %d, want 401", got.Status)
	}
	tb := mustJSON(ticketBody{TicketID: "T-1", TenantID: "acme"})
	if got := e.post(t, "/webhooks/tickets", tb, standardHeaders(nil, "msg_1", time.Now(), tb)); got.Status != http.StatusUnauthorized {
		t.Errorf("tickets: got %d, want 401", got.Status)
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times, want 0", got)
	}
}

func TestJiraIgnored(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name string
		body []byte
	}{
		{"other event", jiraIssue("jira:issue_deleted", "OPS-4", "Acme", []string{"tenant:acme"}, nil)},
		{"comment event", mustJSON(map[string]any{"webhookEvent": "comment_created"})},
		{"no tenant label", jiraIssue(JiraIssueCreated, "OPS-5", "Printer on fire", []string{"hardware"}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.jira(t, "", tt.body)
			if got.Status != http.StatusOK || got.Body["ignored"] != true || got.str("reason") == "" {
				t.Errorf("got %d %s, want 200 ignored with a reason", got.Status, got.Raw)
			}
		})
	}
	if got := e.rows(t); got != 0 {
		t.Errorf("outbox rows: got %d, want 0", got)
	}
}

// TestRejectedTouchesNothing sends invalid requests, correctly signed, to
// both webhooks (the API's are infra/restapi's TestOnboardingRejectedTouchesNothing): each gets its 4xx and not one statement reaches the
// database.
func TestRejectedTouchesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	injection := "acme'; drop table x; --"
	long := "a" + strings.Repeat("b", 40)
	tests := []struct {
		name   string
		send   func(t *testing.T) answer
		status int
		field  string
	}{
		{"jira injection", func(t *testing.T) answer {
			return e.jira(t, "", jiraIssue(JiraIssueCreated, "OPS-1", "x", []string{"tenant:" + injection}, nil))
		}, 422, "tenant_id"},
		{"jira too long", func(t *testing.T) answer {
			return e.jira(t, "", jiraIssue(JiraIssueCreated, "OPS-1", "x", []string{"tenant:" + long}, nil))
		}, 422, "tenant_id"},
		{"jira bad tier", func(t *testing.T) answer {
			return e.jira(t, "", jiraIssue(JiraIssueCreated, "OPS-1", "x", []string{"tenant:acme", "tier:gold"}, nil))
		}, 422, "tier"},
		{"jira two tenants", func(t *testing.T) answer {
			return e.jira(t, "", jiraIssue(JiraIssueCreated, "OPS-1", "x", []string{"tenant:acme", "tenant:beta"}, nil))
		}, 422, "tenant_id"},
		{"jira malformed", func(t *testing.T) answer { return e.jira(t, "", []byte(`{"webhookEvent": `)) }, 400, ""},
		{"jira not an object", func(t *testing.T) answer { return e.jira(t, "", []byte(`[1,2]`)) }, 400, ""},
		{"ticket injection", func(t *testing.T) answer {
			return e.ticket(t, "msg_1", mustJSON(ticketBody{TicketID: "T-1", TenantID: injection}))
		}, 422, "tenant_id"},
		{"ticket too long", func(t *testing.T) answer {
			return e.ticket(t, "msg_2", mustJSON(ticketBody{TicketID: "T-2", TenantID: long}))
		}, 422, "tenant_id"},
		{"ticket no ticket id", func(t *testing.T) answer {
			return e.ticket(t, "msg_3", mustJSON(ticketBody{TenantID: "acme"}))
		}, 422, "ticket_id"},
		{"ticket bad tier", func(t *testing.T) answer {
			return e.ticket(t, "msg_4", mustJSON(ticketBody{TicketID: "T-4", TenantID: "acme", Tier: "premium"}))
		}, 422, "tier"},
		{"ticket tenant id not a string", func(t *testing.T) answer {
			return e.ticket(t, "msg_5", []byte(`{"ticket_id":"T-5","tenant_id":42}`))
		}, 400, ""},
		{"ticket trailing data", func(t *testing.T) answer {
			return e.ticket(t, "msg_6", []byte(`{"ticket_id":"T-6","tenant_id":"acme"} {}`))
		}, 400, ""},
		{"jira trailing data", func(t *testing.T) answer {
			body := jiraIssue(JiraIssueCreated, "OPS-1", "x", []string{"tenant:acme"}, nil)
			return e.jira(t, "", append(body, `{"webhookEvent":"jira:issue_created"}`...))
		}, 400, ""},
		{"jira bidi override in the summary", func(t *testing.T) answer {
			return e.jira(t, "", jiraIssue(JiraIssueCreated, "OPS-1", "\u202eknaB emcA", []string{"tenant:acme"}, nil))
		}, 422, "name"},
		{"ticket zero-width space in the name", func(t *testing.T) answer {
			return e.ticket(t, "msg_7", mustJSON(ticketBody{TicketID: "T-7", TenantID: "acme", Name: "Acme\u200bBank"}))
		}, 422, "name"},
		{"ticket isolate in requested_by", func(t *testing.T) answer {
			return e.ticket(t, "msg_8", mustJSON(ticketBody{TicketID: "T-8", TenantID: "acme", RequestedBy: "ada\u2066x\u2069"}))
		}, 422, "requested_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.send(t)
			if got.Status != tt.status {
				t.Fatalf("got %d %s, want %d", got.Status, got.Raw, tt.status)
			}
			if tt.field != "" && (got.str("field") != tt.field || got.str("reason") == "") {
				t.Errorf("got %s, want field %q with a reason", got.Raw, tt.field)
			}
		})
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times by rejected requests, want 0", got)
	}
	if got := e.rows(t); got != 0 {
		t.Errorf("outbox rows: got %d, want 0", got)
	}
	if got := len(e.criticalTasks(t)); got != 0 {
		t.Errorf("tasks: got %d, want 0", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := setup(t)
	huge := jiraIssue(JiraIssueCreated, "OPS-1", strings.Repeat("x", DefaultMaxBodyBytes), []string{"tenant:acme"}, nil)
	tests := []struct {
		name string
		send func() answer
	}{
		{"jira", func() answer { return e.jira(t, "", huge) }},
		{"ticket", func() answer { return e.ticket(t, "msg_big", huge) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.send(); got.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("got %d %s, want 413", got.Status, got.Raw)
			}
		})
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times, want 0", got)
	}
}

func TestJiraCustomFieldMapping(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.Jira.TenantField = "customfield_10042" })
	body := jiraIssue(JiraIssueCreated, "OPS-9", "Globex", nil, map[string]any{"customfield_10042": map[string]any{"value": "globex"}})
	got := e.jira(t, "d-9", body)
	if got.Status != http.StatusAccepted || got.str("tenant_id") != "globex" {
		t.Fatalf("got %d %s, want 202 for globex", got.Status, got.Raw)
	}
	rec, err := e.in.Get(t.Context(), int64(got.Body["request_id"].(float64)))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if rec.Source != SourceJira || rec.TicketKey != "OPS-9" || rec.DeliveryID != "d-9" || rec.Name != "Globex" ||
		rec.Tier != "shared" || !strings.HasPrefix(rec.RequestedBy, "jira:") {
		t.Errorf("stored: got %+v", rec)
	}
	if want := queue.OnboardTaskID(rec.ID); got.str("task_id") != want {
		t.Errorf("task_id: got %q, want %q", got.str("task_id"), want)
	}
}

func TestTicketWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := mustJSON(ticketBody{TicketID: "SUP-100", TenantID: "initech", Name: "Initech", Tier: "dedicated", RequestedBy: "bill"})
	first := e.ticket(t, "msg_a", body)
	if first.Status != http.StatusAccepted || first.str("tenant_id") != "initech" || first.str("task_id") == "" {
		t.Fatalf("first: got %d %s, want 202", first.Status, first.Raw)
	}
	// The same message again, and the same ticket in a new message.
	for _, id := range []string{"msg_a", "msg_b"} {
		a := e.ticket(t, id, body)
		if a.Status != http.StatusAccepted || a.str("task_id") != first.str("task_id") || a.Body["duplicate"] != true {
			t.Errorf("%s: got %d %s, want duplicate of %s", id, a.Status, a.Raw, first.Raw)
		}
	}
	if got := e.rows(t); got != 1 {
		t.Errorf("outbox rows: got %d, want 1", got)
	}
	rec, err := e.in.Get(t.Context(), int64(first.Body["request_id"].(float64)))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if rec.Source != SourceTicket || rec.DeliveryID != "msg_a" || rec.TicketKey != "SUP-100" ||
		rec.Tier != "dedicated" || rec.RequestedBy != "bill" || rec.Status != StatusEnqueued || rec.Attempts != 1 {
		t.Errorf("stored: got %+v", rec)
	}
}

func TestTicketSignatureRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := mustJSON(ticketBody{TicketID: "SUP-1", TenantID: "acme"})
	now := time.Now()
	tests := []struct {
		name   string
		header func() http.Header
	}{
		{"missing", func() http.Header { return http.Header{} }},
		{"replay 6 minutes old", func() http.Header { return standardHeaders(testTicketKey, "m1", now.Add(-6*time.Minute), body) }},
		{"6 minutes ahead", func() http.Header { return standardHeaders(testTicketKey, "m1", now.Add(6*time.Minute), body) }},
		{"wrong key", func() http.Header { return standardHeaders([]byte("other"), "m1", now, body) }},
		{"whsec string used raw", func() http.Header { return standardHeaders([]byte(testTicketSecret), "m1", now, body) }},
		{"other id", func() http.Header {
			h := standardHeaders(testTicketKey, "m1", now, body)
			h.Set(headerWebhookID, "m2")
			return h
		}},
		{"timestamp not a number", func() http.Header {
			h := standardHeaders(testTicketKey, "m1", now, body)
			h.Set(headerWebhookTimestamp, "yesterday")
			return h
		}},
		{"v2 scheme", func() http.Header {
			h := standardHeaders(testTicketKey, "m1", now, body)
			h.Set(headerWebhookSignature, "v2,"+strings.TrimPrefix(h.Get(headerWebhookSignature), "v1,"))
			return h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.post(t, "/webhooks/tickets", body, tt.header()); got.Status != http.StatusUnauthorized {
				t.Errorf("got %d %s, want 401", got.Status, got.Raw)
			}
		})
	}
	if got := e.touched.Count(); got != 0 {
		t.Errorf("database touched %d times, want 0", got)
	}
	// Several signatures, one valid (a key rotation), 4 minutes old: taken.
	h := standardHeaders(testTicketKey, "m9", now.Add(-4*time.Minute), body)
	h.Set(headerWebhookSignature, "v1,Zm9v "+h.Get(headerWebhookSignature)+" v1a,bar")
	if got := e.post(t, "/webhooks/tickets", body, h); got.Status != http.StatusAccepted {
		t.Errorf("rotated signatures: got %d %s, want 202", got.Status, got.Raw)
	}
}
