package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const testToken = "test-token-0123456789"

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Token = testToken
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.HandleAPI("GET /api/v1/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"pong": "yes"})
	}))
	// A JSON write and an open (webhook-like) write, for the origin and
	// content-type rules.
	s.HandleAPI("POST /api/v1/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		WriteJSON(w, http.StatusOK, map[string]string{"echo": string(body)})
	}))
	s.Handle("POST /webhooks/test", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusAccepted, map[string]string{"hook": "taken"})
	}))
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func get(t *testing.T, url string, setAuth func(*http.Request)) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestNewRequiresToken(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Token: "short"}); err == nil {
		t.Fatal("New with a 5-character token succeeded, want an error")
	}
}

func TestAuthOnAPIAndMonitoring(t *testing.T) {
	t.Parallel()
	mon := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "asynqmon") })
	s := startServer(t, Config{Monitoring: mon})
	base := "http://" + s.Addr()
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth("admin", pass) }
	}
	cases := []struct {
		name string
		path string
		auth func(*http.Request)
		want int
	}{
		{"monitoring without token", "/monitoring/", nil, 401},
		{"monitoring wrong bearer", "/monitoring/", bearer("nope-nope-nope-nope"), 401},
		{"monitoring bearer", "/monitoring/", bearer(testToken), 200},
		{"monitoring basic password", "/monitoring/", basic(testToken), 200},
		{"monitoring basic wrong password", "/monitoring/", basic("x"), 401},
		{"api without token", "/api/v1/ping", nil, 401},
		{"api token as query is not accepted", "/api/v1/ping?token=" + testToken, nil, 401},
		{"api bearer", "/api/v1/ping", bearer(testToken), 200},
		{"healthz is open", "/healthz", nil, 200},
		{"metrics without token", "/metrics", nil, 401},
		{"metrics bearer", "/metrics", bearer(testToken), 200},
		{"metrics basic password", "/metrics", basic(testToken), 200},
	}
	for _, tc := range cases {
		code, body, hdr := get(t, base+tc.path, tc.auth)
		if code != tc.want {
			t.Errorf("%s: status %d, want %d (body %q)", tc.name, code, tc.want, body)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without a Basic challenge", tc.name)
		}
	}
}

// startRedis runs a real redis-server on a free port and returns its
// address and a function that kills it.
func startRedis(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (apt-get install redis-server): %v", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for client.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, stop
}

// TestReadyzReportsStoppedRedis stops a real Redis: /readyz answers 503
// naming the failed check with a generic reason, and the driver's error
// (which names the address) only with ReadinessDetail.
func TestReadyzReportsStoppedRedis(t *testing.T) {
	t.Parallel()
	addr, stopRedis := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	checks := []Check{
		{Name: "redis", Probe: func(ctx context.Context) error { return client.Ping(ctx).Err() }},
		{Name: "postgres", Probe: func(context.Context) error { return nil }},
	}
	generic := "http://" + startServer(t, Config{Checks: checks}).Addr() + "/readyz"
	detailed := "http://" + startServer(t, Config{Checks: checks, ReadinessDetail: true}).Addr() + "/readyz"

	if code, body, _ := get(t, generic, nil); code != 200 {
		t.Fatalf("with Redis up: status %d, want 200 (%s)", code, body)
	}
	stopRedis()
	readiness := func(url string) map[string]string { // the checks of a 503
		t.Helper()
		code, body, _ := get(t, url, nil)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("with Redis stopped: status %d, want 503 (%s)", code, body)
		}
		var got struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("readyz body %q: %v", body, err)
		}
		if got.Checks["postgres"] != "ok" {
			t.Errorf("postgres check = %q, want ok", got.Checks["postgres"])
		}
		return got.Checks
	}
	_, port, _ := net.SplitHostPort(addr)
	if got := readiness(generic)["redis"]; got != "unavailable" {
		t.Errorf("redis check = %q, want the generic \"unavailable\" (no driver error, no address)", got)
	}
	if got := readiness(detailed)["redis"]; !strings.Contains(got, port) {
		t.Errorf("redis check with detail = %q, want the driver's error naming port %s", got, port)
	}
}

// TestMetricsOnSeparateAddress: with MetricsAddr, /metrics is served there
// without a token, and the API port no longer serves it at all.
func TestMetricsOnSeparateAddress(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{MetricsAddr: "127.0.0.1:0"})
	if s.MetricsAddr() == "" || s.MetricsAddr() == s.Addr() {
		t.Fatalf("metrics addr %q, api addr %q: want a second listener", s.MetricsAddr(), s.Addr())
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }
	if code, body, _ := get(t, "http://"+s.MetricsAddr()+"/metrics", nil); code != 200 || !strings.Contains(body, "# ") {
		t.Errorf("metrics listener /metrics without token: %d, want 200 with metrics (%.80q)", code, body)
	}
	if code, _, _ := get(t, "http://"+s.Addr()+"/metrics", bearer); code != http.StatusNotFound {
		t.Errorf("api /metrics with MetricsAddr set: %d, want 404", code)
	}
	for _, path := range []string{"/healthz", "/api/v1/ping", "/monitoring/"} {
		if code, _, _ := get(t, "http://"+s.MetricsAddr()+path, bearer); code != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404 (it serves /metrics only)", path, code)
		}
	}
	s.Stop()
	if resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics"); err == nil {
		_ = resp.Body.Close()
		t.Error("metrics listener still answers after Stop")
	}
}

func TestStopDrainsInFlightRequest(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "127.0.0.1:0", Token: testToken, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	}))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		result <- string(b)
	}()
	<-entered
	s.Stop()
	if got := <-result; got != "finished" {
		t.Fatalf("in-flight request got %q, want it to finish during the drain", got)
	}
	s.Stop() // idempotent
}
