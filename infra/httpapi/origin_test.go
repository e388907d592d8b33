package httpapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// pausedKey is where asynq marks a paused queue.
func pausedKey(queue string) string { return "asynq:{" + queue + "}:paused" }

// startAsynqmon serves the real Asynqmon at /monitoring/ against a leased
// Redis database, the way `fleet run` mounts it.
func startAsynqmon(t *testing.T) (*Server, *redis.Client) {
	t.Helper()
	redisURL, rdb := cptest.RedisDB(t)
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt})
	t.Cleanup(func() { _ = mon.Close() })
	return startServer(t, Config{Monitoring: mon}), rdb
}

// send makes one request with the given headers and returns its status and
// body.
func send(t *testing.T, method, url, contentType, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func basicHeader(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth("admin", testToken)
	return req.Header.Get("Authorization")
}

// TestCrossSiteAsynqmonWriteRefused is the forged request of the issue: a
// page on another site makes the operator's browser, which holds basic-auth
// credentials for the fleet, POST a text/plain "simple request" that pauses
// a queue. It must be refused and the queue must stay unpaused.
func TestCrossSiteAsynqmonWriteRefused(t *testing.T) {
	t.Parallel()
	s, rdb := startAsynqmon(t)
	pause := "http://" + s.Addr() + "/monitoring/api/queues/low:pause"
	basic := basicHeader(t)
	attacks := []struct {
		name   string
		header map[string]string
	}{
		{"modern browser", map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"sibling site", map[string]string{"Authorization": basic, "Sec-Fetch-Site": "same-site", "Origin": "https://other." + s.Addr()}},
		{"browser without Sec-Fetch-Site", map[string]string{"Authorization": basic, "Origin": "https://evil.example"}},
		{"opaque origin", map[string]string{"Authorization": basic, "Origin": "null"}},
	}
	for _, a := range attacks {
		code, body := send(t, http.MethodPost, pause, "text/plain", "x", a.header)
		if code != http.StatusForbidden {
			t.Errorf("%s: status %d (%s), want 403", a.name, code, body)
		}
		if n := rdb.Exists(t.Context(), pausedKey("low")).Val(); n != 0 {
			t.Fatalf("%s: queue low is paused: the forged request went through", a.name)
		}
	}
	// The same forgery with DELETE (Asynqmon deletes queues and tasks).
	code, _ := send(t, http.MethodDelete, "http://"+s.Addr()+"/monitoring/api/queues/low", "", "",
		map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Errorf("cross-site DELETE: status %d, want 403", code)
	}
}

// TestSameOriginAsynqmonWritesWork checks that Asynqmon's own actions,
// which its page sends with axios (POST and DELETE, no body or a JSON body),
// keep working from the same origin, and that a bearer token works from
// anywhere: browsers never attach it on their own.
func TestSameOriginAsynqmonWritesWork(t *testing.T) {
	t.Parallel()
	s, rdb := startAsynqmon(t)
	base := "http://" + s.Addr() + "/monitoring/api/queues/"
	basic := basicHeader(t)
	paused := func() bool { return rdb.Exists(context.Background(), pausedKey("low")).Val() == 1 }

	sameOrigin := map[string]string{"Authorization": basic, "Sec-Fetch-Site": "same-origin", "Origin": "http://" + s.Addr()}
	if code, body := send(t, http.MethodPost, base+"low:pause", "", "", sameOrigin); code != http.StatusNoContent || !paused() {
		t.Fatalf("same-origin pause: status %d (%s), paused %v; want 204 and paused", code, body, paused())
	}
	// An older browser: no Sec-Fetch-Site, an Origin naming the host.
	oldBrowser := map[string]string{"Authorization": basic, "Origin": "http://" + s.Addr()}
	if code, body := send(t, http.MethodPost, base+"low:resume", "", "", oldBrowser); code != http.StatusNoContent || paused() {
		t.Fatalf("same-origin resume without Sec-Fetch-Site: status %d (%s), paused %v; want 204 and resumed", code, body, paused())
	}
	// A JSON body, as axios sends for the batch actions.
	code, body := send(t, http.MethodPost, base+"low/pending_tasks:batch_delete", "application/json;charset=utf-8",
		`{"task_ids":[]}`, sameOrigin)
	if code != http.StatusOK {
		t.Fatalf("same-origin batch delete: status %d (%s), want 200", code, body)
	}
	// A bearer token is exempt from the origin check.
	bearer := map[string]string{"Authorization": "Bearer " + testToken, "Sec-Fetch-Site": "cross-site", "Origin": "https://ci.example"}
	if code, body := send(t, http.MethodPost, base+"low:pause", "text/plain", "x", bearer); code != http.StatusNoContent || !paused() {
		t.Fatalf("bearer pause: status %d (%s), paused %v; want 204 and paused", code, body, paused())
	}
	// A wrong bearer token is still 401, whatever the origin.
	wrong := map[string]string{"Authorization": "Bearer wrong-token-0123456789", "Sec-Fetch-Site": "cross-site"}
	if code, _ := send(t, http.MethodPost, base+"low:resume", "", "", wrong); code != http.StatusUnauthorized || !paused() {
		t.Fatalf("wrong bearer: status %d, want 401 and the queue still paused", code)
	}
}

// TestJSONAPIWrites: the JSON API takes application/json bodies only (415
// otherwise, bearer or not), refuses cross-site writes made with basic
// auth, accepts a configured public origin, and leaves open routes
// (webhooks, authenticated by their signatures) alone.
func TestJSONAPIWrites(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{TrustedOrigins: []string{"https://fleet.example.com"}})
	echo := "http://" + s.Addr() + "/api/v1/echo"
	basic := basicHeader(t)
	bearer := "Bearer " + testToken
	cases := []struct {
		name        string
		contentType string
		body        string
		header      map[string]string
		want        int
	}{
		{"bearer text/plain", "text/plain", `{"a":1}`, map[string]string{"Authorization": bearer}, 415},
		{"bearer form", "application/x-www-form-urlencoded", "a=1", map[string]string{"Authorization": bearer}, 415},
		{"bearer no content type", "", `{"a":1}`, map[string]string{"Authorization": bearer}, 415},
		{"bearer json", "application/json", `{"a":1}`, map[string]string{"Authorization": bearer}, 200},
		{"bearer json with charset", "application/json; charset=utf-8", `{"a":1}`, map[string]string{"Authorization": bearer}, 200},
		{"bearer no body", "", "", map[string]string{"Authorization": bearer}, 200},
		{"basic same-origin text/plain", "text/plain", `{"a":1}`, map[string]string{"Authorization": basic, "Sec-Fetch-Site": "same-origin"}, 415},
		{"basic same-origin json", "application/json", `{"a":1}`, map[string]string{"Authorization": basic, "Sec-Fetch-Site": "same-origin"}, 200},
		{"basic cross-site json", "application/json", `{"a":1}`, map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site"}, 403},
		{"basic cross-site text/plain", "text/plain", `{"a":1}`, map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site"}, 403},
		{"basic trusted public origin", "application/json", `{"a":1}`, map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site", "Origin": "https://fleet.example.com"}, 200},
		{"basic other origin, old browser", "application/json", `{"a":1}`, map[string]string{"Authorization": basic, "Origin": "https://fleet.example.com.evil.example"}, 403},
		{"basic, not a browser (curl)", "application/json", `{"a":1}`, map[string]string{"Authorization": basic}, 200},
		{"no credential cross-site", "application/json", `{"a":1}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 401},
	}
	for _, tc := range cases {
		if code, body := send(t, http.MethodPost, echo, tc.contentType, tc.body, tc.header); code != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, code, body, tc.want)
		}
	}
	// A cross-site GET with basic auth is a read: it passes (and the
	// browser's same-origin policy keeps the answer from the other site).
	if code, _ := send(t, http.MethodGet, "http://"+s.Addr()+"/api/v1/ping", "", "",
		map[string]string{"Authorization": basic, "Sec-Fetch-Site": "cross-site"}); code != 200 {
		t.Errorf("cross-site GET: status %d, want 200", code)
	}
	// Webhooks are open routes: the origin and content-type rules are not
	// theirs (they verify a signature, and senders are servers).
	if code, body := send(t, http.MethodPost, "http://"+s.Addr()+"/webhooks/test", "text/plain", "x",
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://jira.example"}); code != http.StatusAccepted {
		t.Errorf("webhook: status %d (%s), want 202", code, body)
	}
}

func TestNewRefusesBadTrustedOrigin(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Token: testToken, TrustedOrigins: []string{"fleet.example.com/path"}}); err == nil {
		t.Fatal("New with a trusted origin that is not scheme://host succeeded, want an error")
	}
}
