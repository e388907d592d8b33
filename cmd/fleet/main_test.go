package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// TestMain lets the test binary act as the fleet binary in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("FLEET_TEST_BE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, &out, &errOut)
	if !errors.Is(err, errUsage) || exitCode(err) != 2 {
		t.Fatalf("run(frobnicate) = %v, want a usage error (exit 2)", err)
	}
	if !strings.Contains(errOut.String(), "usage: fleet") {
		t.Errorf("no help printed for an unknown command: %q", errOut.String())
	}
}

func TestConfigCommandRedacts(t *testing.T) {
	env := map[string]string{"FLEET_API_TOKEN": "very-secret-token-123", "FLEET_DATABASE_URL": "postgres://u:hunter2@db/fleet",
		"FLEET_LOCAL_ADMIN_URL": "postgres://admin@db/postgres?password=querysecret&sslmode=require"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config"}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("config output is not JSON: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "very-secret-token-123") || strings.Contains(out.String(), "hunter2") ||
		strings.Contains(out.String(), "querysecret") {
		t.Fatalf("config output leaks a secret:\n%s", out.String())
	}
	if got["shutdown_timeout"] != "25s" {
		t.Errorf("shutdown_timeout = %v, want 25s", got["shutdown_timeout"])
	}
	err := run(context.Background(), []string{"config"}, func(k string) string {
		if k == "FLEET_LOG_FORMAT" {
			return "xml"
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FLEET_LOG_FORMAT") {
		t.Fatalf("config with a bad variable: %v, want an error naming it", err)
	}
}

// TestRunServesAndStopsOnSIGTERM starts `fleet run` as a child process,
// checks the HTTP surface, then sends SIGTERM and expects exit 0.
func TestRunServesAndStopsOnSIGTERM(t *testing.T) {
	dbURL, _ := cptest.Database(t)
	redisURL, _ := cptest.RedisDB(t)
	addr := freeAddr(t)
	const token = "child-token-0123456789"
	cmd := exec.Command(os.Args[0], "run")
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(),
		"FLEET_TEST_BE_MAIN=1",
		"FLEET_DATABASE_URL="+dbURL,
		"FLEET_REDIS_URL="+redisURL,
		"FLEET_HTTP_ADDR="+addr,
		"FLEET_API_TOKEN="+token,
		"FLEET_SHUTDOWN_TIMEOUT=5s",
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 20s; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	status := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth {
			req.SetBasicAuth("admin", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := status("/metrics", false); code != 401 {
		t.Errorf("/metrics without token: %d, want 401", code)
	}
	if code, body := status("/metrics", true); code != 200 || !strings.Contains(body, "asynq_queue_size{queue=\"critical\"}") {
		t.Errorf("/metrics with token: %d, asynq queue series present: %v", code, strings.Contains(body, "asynq_"))
	}
	if code, _ := status("/monitoring/", false); code != 401 {
		t.Errorf("/monitoring/ without token: %d, want 401", code)
	}
	if code, body := status("/monitoring/", true); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("/monitoring/ with token: %d, want 200 with the Asynqmon page", code)
	}
	pause := func(secFetchSite string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/monitoring/api/queues/low:pause", strings.NewReader("x"))
		req.SetBasicAuth("admin", token)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Sec-Fetch-Site", secFetchSite)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := pause("cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site Asynqmon pause with basic auth: %d, want 403", code)
	}
	if code := pause("same-origin"); code != http.StatusNoContent {
		t.Errorf("same-origin Asynqmon pause: %d, want 204", code)
	}
	checkBrowserLogin(t, base, map[string]string{"FLEET_DATABASE_URL": dbURL, "FLEET_REDIS_URL": redisURL, "FLEET_PASSWORD_COST": "4"})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("fleet run exited with %v after SIGTERM, want 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("fleet run did not exit within 15s of SIGTERM; stderr:\n%s", stderr.String())
	}
}

// checkBrowserLogin: through `fleet run`, a browser without a session is
// sent from Asynqmon to the login form; a user made with `fleet users add`
// logs in and opens Asynqmon with the session cookie.
func checkBrowserLogin(t *testing.T, base string, env map[string]string) {
	t.Helper()
	if err := runWithInput(context.Background(), []string{"users", "add", "olga", "--role", "operator", "--password-stdin"},
		func(k string) string { return env[k] }, strings.NewReader("olga's long password\n"), io.Discard, io.Discard); err != nil {
		t.Fatalf("users add: %v", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, base+"/monitoring/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fmonitoring%2F" {
		t.Fatalf("Asynqmon without a session: %d to %q, want 303 to the login form", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.PostForm(base+"/login", url.Values{"user": {"olga"}, "password": {"olga's long password"}, "next": {"/monitoring/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/monitoring/" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/monitoring/", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
		t.Fatalf("Asynqmon with the session: %d, want its page", resp.StatusCode)
	}
}
