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
		{"metrics is open", "/metrics", nil, 200},
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

func TestReadyzReportsStoppedRedis(t *testing.T) {
	t.Parallel()
	addr, stopRedis := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	s := startServer(t, Config{Checks: []Check{
		{Name: "redis", Probe: func(ctx context.Context) error { return client.Ping(ctx).Err() }},
		{Name: "postgres", Probe: func(context.Context) error { return nil }},
	}})
	url := "http://" + s.Addr() + "/readyz"

	code, body, _ := get(t, url, nil)
	if code != 200 {
		t.Fatalf("with Redis up: status %d, want 200 (%s)", code, body)
	}
	stopRedis()
	code, body, _ = get(t, url, nil)
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
	if got.Checks["redis"] == "ok" || got.Checks["redis"] == "" {
		t.Errorf("redis check = %q, want the failure reason", got.Checks["redis"])
	}
	if got.Checks["postgres"] != "ok" {
		t.Errorf("postgres check = %q, want ok", got.Checks["postgres"])
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
