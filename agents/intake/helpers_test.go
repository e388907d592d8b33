package intake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
)

const (
	testJiraSecret = "jira-test-secret"
	// testTicketSecret is "whsec_" + base64("ticket-test-key").
	testTicketSecret = "whsec_dGlja2V0LXRlc3Qta2V5"
	testToken        = "test-api-token-0123456789"
	// testJiraProject is the project jiraIssue files issues in, and the
	// one project setup allows.
	testJiraProject = "OPS"
)

var testTicketKey = []byte("ticket-test-key")

// env is one test's intake over its own scratch control plane and Redis
// database, served by a real HTTP server.
type env struct {
	in      *Intake
	db      *pgxpool.Pool // untraced: for the test's own checks
	rdb     *redis.Client
	insp    *asynq.Inspector
	base    string
	touched *cptest.StatementCounter
}

func setup(t *testing.T, tweak ...func(*Config)) *env {
	t.Helper()
	url, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)

	counter := &cptest.StatementCounter{}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse db url: %v", err)
	}
	pcfg.ConnConfig.Tracer = counter
	traced, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatalf("open traced pool: %v", err)
	}
	t.Cleanup(traced.Close)

	qc := queue.NewClient(rdb)
	t.Cleanup(func() { _ = qc.Close() })
	cfg := Config{
		DB:           traced,
		Queue:        qc,
		JiraSecret:   testJiraSecret,
		TicketSecret: testTicketSecret,
		Jira:         JiraMapping{Projects: []string{testJiraProject}},
		Config:       outbox.Config{ReconcileMinAge: -1, WaitPoll: 10 * time.Millisecond},
		Logger:       cptest.DiscardLogger(),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	in, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: testToken, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	in.RegisterWebhooks(srv)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start http: %v", err)
	}
	t.Cleanup(srv.Stop)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = insp.Close() })
	return &env{in: in, db: db, rdb: rdb, insp: insp, base: "http://" + srv.Addr(), touched: counter}
}

// answer is a decoded HTTP answer.
type answer struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (a answer) str(key string) string { s, _ := a.Body[key].(string); return s }

func (e *env) post(t *testing.T, path string, body []byte, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	return e.do(t, req)
}

func (e *env) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	a := answer{Status: resp.StatusCode, Raw: buf.String()}
	_ = json.Unmarshal(buf.Bytes(), &a.Body)
	return a
}

// jira posts a Jira webhook signed with the test secret.
func (e *env) jira(t *testing.T, delivery string, body []byte) answer {
	t.Helper()
	h := http.Header{}
	h.Set(HeaderHubSignature, signHub(testJiraSecret, body))
	if delivery != "" {
		h.Set(HeaderJiraDelivery, delivery)
	}
	return e.post(t, "/webhooks/jira", body, h)
}

// ticket posts a generic ticket webhook signed now with the test key.
func (e *env) ticket(t *testing.T, id string, body []byte) answer {
	t.Helper()
	return e.post(t, "/webhooks/tickets", body, standardHeaders(testTicketKey, id, time.Now(), body))
}

func signHub(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func signStandard(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func standardHeaders(key []byte, id string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set(headerWebhookID, id)
	h.Set(headerWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(headerWebhookSignature, signStandard(key, id, ts, body))
	return h
}

// jiraIssue builds a Jira issue webhook body: a Task of project
// testJiraProject unless extra sets "project" or "issuetype" (nil makes
// the field null).
func jiraIssue(event, key, summary string, labels []string, extra map[string]any) []byte {
	fields := map[string]any{"summary": summary, "labels": labels,
		"project":   map[string]any{"id": "10000", "key": testJiraProject, "name": "Operations"},
		"issuetype": map[string]any{"id": "10002", "name": "Task"}}
	for k, v := range extra {
		fields[k] = v
	}
	b, _ := json.Marshal(map[string]any{
		"timestamp":    1700000000000,
		"webhookEvent": event,
		"user":         map[string]any{"accountId": "5b10a2844c20165700ede21g", "displayName": "Ada Admin"},
		"issue":        map[string]any{"id": "10001", "key": key, "fields": fields},
	})
	return b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// rows counts intake requests.
func (e *env) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(t.Context(), "SELECT count(*) FROM intake_requests").Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

// auditOutcomes counts audit entries by outcome.
func (e *env) auditOutcomes(t *testing.T) map[string]int {
	t.Helper()
	rows, err := e.db.Query(t.Context(), "SELECT outcome, count(*) FROM audit_log GROUP BY outcome")
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		k string
		n int
	}, error) {
		var v struct {
			k string
			n int
		}
		return v, r.Scan(&v.k, &v.n)
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	m := map[string]int{}
	for _, v := range got {
		m[v.k] = v.n
	}
	return m
}

// criticalTasks lists the ids of the tasks pending on the critical queue.
func (e *env) criticalTasks(t *testing.T) []string {
	t.Helper()
	// An asynq client registers a queue name in asynq:queues once per
	// process, so after a FLUSHDB the inspector no longer lists a queue a
	// long-lived client keeps filling. Register it again for the inspector.
	if err := e.rdb.SAdd(t.Context(), "asynq:queues", queue.QueueCritical).Err(); err != nil {
		t.Fatalf("register queue: %v", err)
	}
	infos, err := e.insp.ListPendingTasks(queue.QueueCritical, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("list pending tasks: %v", err)
	}
	ids := make([]string, 0, len(infos))
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	return ids
}
