package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// TestWebhookSecretsPerSource drives the wired fleet's webhooks: each
// source verifies with its own secret, so a delivery signed with the other
// source's secret is refused, and Jira onboards only from the allowed
// project.
func TestWebhookSecretsPerSource(t *testing.T) {
	env, db, _ := scratchFleet(t, "w")
	const jiraSecret, ticketSecret = "jira-secret-0123456789", "ticket-secret-0123456789"
	env["FLEET_JIRA_WEBHOOK_SECRET"], env["FLEET_TICKET_WEBHOOK_SECRET"] = jiraSecret, ticketSecret
	env["FLEET_JIRA_PROJECTS"] = "OPS"
	ctx := context.Background()
	a, svc := wireFleet(t, ctx, env)
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: "webhook-test-token-0123", Registry: a.registry, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterRoutes(srv, a.log); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	base := "http://" + srv.Addr()

	post := func(path string, body []byte, header http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	jira := func(secret, project, tenant string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"webhookEvent": "jira:issue_created", "issue": map[string]any{
			"key": project + "-1", "fields": map[string]any{"summary": "Hook Co", "labels": []string{"tenant:" + tenant},
				"project": map[string]any{"key": project}, "issuetype": map[string]any{"name": "Task"}}}})
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		h := http.Header{}
		h.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		h.Set("X-Atlassian-Webhook-Identifier", project+"-"+tenant)
		return post("/webhooks/jira", body, h)
	}
	ticket := func(secret, id, tenant string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"ticket_id": id, "tenant_id": tenant})
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return post("/webhooks/tickets", body, h)
	}

	for _, tc := range []struct {
		name string
		send func() (int, string)
		want int
		body string
	}{
		{"jira signed with the ticket secret", func() (int, string) { return jira(ticketSecret, "OPS", "cross-one") }, 401, ""},
		{"ticket signed with the jira secret", func() (int, string) { return ticket(jiraSecret, "msg_cross", "cross-two") }, 401, ""},
		{"jira from a project not allowed", func() (int, string) { return jira(jiraSecret, "HR", "hr-co") }, 200, `"ignored":true`},
		{"jira from the allowed project", func() (int, string) { return jira(jiraSecret, "OPS", "hook-co") }, 202, `"tenant_id":"hook-co"`},
		{"ticket with its own secret", func() (int, string) { return ticket(ticketSecret, "msg_own", "ticket-co") }, 202, `"tenant_id":"ticket-co"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := tc.send()
			if code != tc.want || !strings.Contains(body, tc.body) {
				t.Fatalf("got %d %s, want %d with %s", code, body, tc.want, tc.body)
			}
		})
	}
	var stored []string
	rows, err := db.Query(ctx, "SELECT tenant_id FROM intake_requests ORDER BY tenant_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stored, ","); got != "hook-co,ticket-co" {
		t.Fatalf("stored requests for %q, want hook-co,ticket-co only", got)
	}
}
