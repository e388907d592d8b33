package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
)

// buildExampleApp builds cmd/exampleapp into a temporary directory.
func buildExampleApp(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the example application: %v", err)
	}
	out := filepath.Join(t.TempDir(), "exampleapp")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/exampleapp")
	cmd.Dir = filepath.Join("..", "..")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build exampleapp: %v\n%s", err, msg)
	}
	return out
}

// demoTestEnv is the environment the demo runs under in a test: the
// machine's servers, as a user's shell would have them.
func demoTestEnv() func(string) string {
	return func(k string) string {
		switch k {
		case "FLEET_DATABASE_URL", "FLEET_REDIS_URL":
			return os.Getenv(k)
		}
		return ""
	}
}

// portClosed reports whether nothing listens on addr any more.
func portClosed(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	_ = c.Close()
	return false
}

// TestDemoCheck runs fleet demo twice on a private instance server with
// pg_stat_statements preloaded: the first run is interrupted during the
// noisy load and must stop everything (fleet, example application)
// cleanly; the second, --check, must start from scratch and see the
// pool-exhaustion alert fire and resolve, the migration run succeed and a
// recommendation, all through the API within two minutes.
func TestDemoCheck(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Settings: map[string]string{
		"shared_preload_libraries": "pg_stat_statements", "max_connections": "200"}})
	app := buildExampleApp(t)
	database := "fleet_demo_" + cptest.UniqueName("t")
	t.Cleanup(func() { dropDatabase(t, database) })
	addr, appAddr := freeAddr(t), freeAddr(t)
	args := []string{"demo", "--addr", addr, "--app-addr", appAddr, "--instance-server", cluster.URL("postgres"),
		"--database", database, "--exampleapp", app}

	// Run 1: Ctrl-C while the load runs.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	interrupted, stop := context.WithCancel(ctx)
	var out1, err1 cptest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(interrupted, args, demoTestEnv(), &out1, &err1) }()
	for !strings.Contains(out1.String(), "noisy batch load started") {
		select {
		case err := <-done:
			t.Fatalf("the demo ended before the load: %v\n%s\n%s", err, out1.String(), err1.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	stopped := time.Now()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("interrupted demo: %v, want a clean stop\n%s", err, out1.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the interrupted demo did not stop within 45s")
	}
	t.Logf("interrupted demo stopped in %s", time.Since(stopped).Round(time.Millisecond))
	// Without FLEET_API_TOKEN the demo generates a token and prints it
	// beside the demo user's login.
	if !regexp.MustCompile(`(?s)Login:      user demo, password [0-9a-f]{48}\n.*Bearer [0-9a-f]{48} to`).MatchString(out1.String()) {
		t.Errorf("the first run printed no generated login and token:\n%s", out1.String())
	}
	if !portClosed(addr) || !portClosed(appAddr) {
		t.Fatalf("after the interrupt the fleet (%s closed: %v) or the example application (%s closed: %v) still listens",
			addr, portClosed(addr), appAddr, portClosed(appAddr))
	}

	// Run 2: from scratch, with the checks, and the user's own token,
	// which is used but never echoed.
	token := "demo-test-token-" + cptest.UniqueName("")
	env := func(k string) string {
		if k == "FLEET_API_TOKEN" {
			return token
		}
		return demoTestEnv()(k)
	}
	var out2, err2 cptest.SyncBuffer
	t0 := time.Now()
	err := run(ctx, append(args, "--check"), env, &out2, &err2)
	t.Logf("demo --check took %s:\n%s", time.Since(t0).Round(time.Millisecond), out2.String())
	if err != nil {
		t.Fatalf("demo --check: %v\nstderr:\n%s", err, err2.String())
	}
	got := out2.String()
	for _, want := range []string{
		"12 tenants active on 1 shared instance(s)",
		"ALERT pool_exhausted fired on instance:",
		"RESOLVED pool_exhausted",
		"succeeded: 12 of 12 tenants succeeded",
		"Dashboard:  http://" + addr + "/",
		"Asynqmon:   http://" + addr + "/monitoring/",
		"Authorization: Bearer $FLEET_API_TOKEN to",
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "fleet_accounts_opened_at_idx" ON "accounts" ("opened_at")`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got+err2.String(), token) {
		t.Error("the demo echoed the user's FLEET_API_TOKEN")
	}
	if !portClosed(addr) || !portClosed(appAddr) {
		t.Error("after --check the fleet or the example application still listens")
	}
	// The printed login is the demo operator's, in the demo's control
	// plane.
	m := regexp.MustCompile(`Login:      user demo, password ([0-9a-f]{48})\n`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no demo login printed:\n%s", got)
	}
	cp, err := pgxpool.New(ctx, config.WithDatabase(demoControlPlaneURL(), database))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	ops := operators.New(operators.Config{Store: controlplane.NewStore(cp), Logger: cptest.DiscardLogger()})
	if _, err := ops.Login(ctx, "demo", m[1], "192.0.2.7"); err != nil {
		t.Errorf("log in as the printed demo user: %v", err)
	}
	if users, err := ops.Users(ctx); err != nil || len(users) != 1 || auth.Role(users[0].Role) != auth.RoleOperator {
		t.Errorf("demo users %+v (%v), want the one operator", users, err)
	}
	// The demo's tenants went on the instance server, not on the
	// machine's server that holds its control plane.
	conn, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname LIKE 'demo\_t\_%'`).Scan(&n); err != nil || n != 12 {
		t.Errorf("instance server holds %d demo tenant roles (%v), want 12", n, err)
	}
}

// demoControlPlaneURL is the server the demo's control plane is on.
func demoControlPlaneURL() string {
	if u := os.Getenv("FLEET_DATABASE_URL"); u != "" {
		return u
	}
	return config.Default().DatabaseURL
}

// dropDatabase drops a control-plane database the demo made on the
// machine's server.
func dropDatabase(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, config.WithDatabase(os.Getenv("FLEET_DATABASE_URL"), "postgres"))
	if err != nil {
		conn, err = pgx.Connect(ctx, config.WithDatabase(config.Default().DatabaseURL, "postgres"))
	}
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

// The demo never drops a database that is not its own, and checks the
// instance server before it drops anything.
func TestDemoRefusesOthersData(t *testing.T) {
	// Never started: the demo refuses before it would start it.
	app := os.Args[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, db := range []string{"fleet", "postgres", `fleet_demo"; DROP DATABASE fleet; --`, "fleet_demo_X"} {
		err := run(ctx, []string{"demo", "--check", "--database", db, "--exampleapp", app}, demoTestEnv(), &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("--database %q: %v, want a usage error", db, err)
		}
	}

	// FLEET_DATABASE_URL's own database is refused even with the prefix.
	own := "fleet_demo_" + cptest.UniqueName("own")
	env := func(k string) string {
		if k == "FLEET_DATABASE_URL" {
			return config.WithDatabase(cmp.Or(os.Getenv(k), config.Default().DatabaseURL), own)
		}
		return demoTestEnv()(k)
	}
	if err := run(ctx, []string{"demo", "--check", "--database", own, "--exampleapp", app}, env, &bytes.Buffer{}, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "FLEET_DATABASE_URL's own database") {
		t.Errorf("the user's own database: %v, want it refused", err)
	}

	// An instance server without pg_stat_statements is refused before the
	// demo's control plane is dropped.
	plain := pgtest.Start(t, pgtest.Options{})
	keep := "fleet_demo_" + cptest.UniqueName("keep")
	admin, err := pgx.Connect(ctx, config.WithDatabase(demoControlPlaneURL(), "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{keep}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, keep) })
	err = run(ctx, []string{"demo", "--check", "--database", keep, "--exampleapp", app, "--instance-server", plain.URL("postgres")},
		demoTestEnv(), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not preload pg_stat_statements") {
		t.Errorf("instance server without pg_stat_statements: %v, want it refused", err)
	}
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", keep).Scan(&exists); err != nil || !exists {
		t.Errorf("database %s dropped (%v) although the demo refused to run", keep, err)
	}
}
