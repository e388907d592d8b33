package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
)

// remoteToken is the API token of the fleet the remote tests start.
const remoteToken = "remote-test-token-0123456789"

// startServedFleet wires a fleet over env with a worker and the HTTP API
// (the real restapi over the real wiring), and returns the API's address.
func startServedFleet(t *testing.T, ctx context.Context, env map[string]string) (*app, string) {
	t.Helper()
	a, svc := wireFleet(t, ctx, env)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterHandlers(w)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: remoteToken, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterRoutes(srv, cptest.DiscardLogger()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return a, "http://" + srv.Addr()
}

// remoteEnv points the CLI at server; its control-plane and Redis
// addresses lead nowhere, so a command that touched them would fail.
func remoteEnv(server, token string) map[string]string {
	return map[string]string{
		"FLEET_SERVER": server, "FLEET_API_TOKEN": token,
		"FLEET_DATABASE_URL": "postgres://nobody@127.0.0.1:1/nowhere", "FLEET_REDIS_URL": "redis://127.0.0.1:1/0",
	}
}

// cliResult is one command's stdout, stderr and error.
type cliResult struct {
	out, stderr string
	err         error
}

func runCLI(ctx context.Context, env map[string]string, args ...string) cliResult {
	var out, errOut bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return cliResult{out.String(), errOut.String(), err}
}

var (
	// timestamps masks RFC 3339 times (schedule and batch next runs are
	// computed at the time of the call).
	timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	// numbers masks ids, which differ between two actions of one kind.
	numbers = regexp.MustCompile(`\d+`)
)

// TestRemoteModeMatchesLocal runs every command of the CLI against a
// running fleet through FLEET_SERVER, and the same (or, for an action, the
// same on a twin object) in local mode: the outputs and --json are the
// same, and so are the errors and exit codes.
func TestRemoteModeMatchesLocal(t *testing.T) {
	local, db, _ := scratchFleet(t, "rm")
	ctx := context.Background()
	_, server := startServedFleet(t, ctx, local)
	remote := remoteEnv(server, remoteToken)
	covered := map[string]bool{}

	// sameOrFail runs args in both modes and wants equal answers (after
	// mask), errors and exit codes.
	sameOrFail := func(mask *regexp.Regexp, args ...string) cliResult {
		t.Helper()
		covered[leafOf(args)] = true
		l, r := runCLI(ctx, local, args...), runCLI(ctx, remote, args...)
		lo, ro := l.out, r.out
		if mask != nil {
			lo, ro = mask.ReplaceAllString(lo, "T"), mask.ReplaceAllString(ro, "T")
		}
		if lo != ro || errText(l.err) != errText(r.err) || exitOf(l.err) != exitOf(r.err) {
			t.Errorf("fleet %s differs:\nlocal  (%v):\n%s\nremote (%v):\n%s", strings.Join(args, " "), l.err, l.out, r.err, r.out)
		}
		return r
	}
	// same is sameOrFail for a command that must succeed.
	same := func(mask *regexp.Regexp, args ...string) cliResult {
		t.Helper()
		r := sameOrFail(mask, args...)
		if r.err != nil {
			t.Errorf("fleet %s: %v", strings.Join(args, " "), r.err)
		}
		return r
	}
	// sameFail is same for a command that must fail, the same way.
	sameFail := func(args ...string) cliResult {
		t.Helper()
		r := sameOrFail(nil, args...)
		if r.err == nil {
			t.Errorf("fleet %s succeeded, want an error", strings.Join(args, " "))
		}
		return r
	}
	// twin runs an action remotely on one object and locally on its twin:
	// the outputs are the same once the ids are masked.
	twin := func(remoteArgs, localArgs []string, ids ...string) cliResult {
		t.Helper()
		covered[leafOf(remoteArgs)] = true
		r, l := runCLI(ctx, remote, remoteArgs...), runCLI(ctx, local, localArgs...)
		norm := func(s string) string {
			// The audit name differs by design: local:USER in-process,
			// the token's principal with X-Requested-By (cli:USER) through a
			// server (docs/architecture.md).
			s = strings.NewReplacer("bootstrap (cli:"+localUser()+")", "ACTOR", "local:"+localUser(), "ACTOR").Replace(s)
			for _, id := range ids {
				s = strings.ReplaceAll(s, id, "ID")
			}
			return numbers.ReplaceAllString(s, "N")
		}
		if r.err != nil || l.err != nil || norm(r.out) != norm(l.out) {
			t.Errorf("fleet %s (remote) vs %s (local):\nremote (%v):\n%s\nlocal  (%v):\n%s",
				strings.Join(remoteArgs, " "), strings.Join(localArgs, " "), r.err, r.out, l.err, l.out)
		}
		return r
	}

	twin([]string{"tenants", "onboard", "acme-rm", "--name", "Acme", "--wait"}, []string{"tenants", "onboard", "globex-rm", "--name", "Acme", "--wait"}, "acme-rm", "globex-rm")
	for _, args := range [][]string{
		{"tenants", "list"}, {"tenants", "list", "--json"}, {"tenants", "list", "--status", "active", "--tier", "shared"},
		{"tenants", "show", "acme-rm"}, {"tenants", "show", "acme-rm", "--json"},
		{"instances", "list"}, {"instances", "list", "--json"},
		{"batch", "runs"}, {"batch", "runs", "--tenant", "acme-rm", "--json"},
		{"health"}, {"health", "--tenant", "acme-rm", "--json"},
		{"alerts", "silences", "--json"}, {"cost", "report"},
	} {
		same(nil, args...)
	}
	same(timestamps, "batch", "list")
	same(timestamps, "batch", "list", "--json")
	same(timestamps, "schedule", "list")
	same(timestamps, "schedule", "list", "--json")

	twin([]string{"tenants", "set-isolation", "acme-rm", "strict"}, []string{"tenants", "set-isolation", "globex-rm", "strict"}, "acme-rm", "globex-rm")
	same(nil, "tenants", "show", "acme-rm", "--json")

	// Alerts: acknowledge one remotely and its twin locally.
	engine, err := alerts.New(alerts.Config{Store: controlplane.NewStore(db), Fleet: local["FLEET_NAME"], Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"inst-a", "inst-b"} {
		if _, err := engine.Raise(ctx, alerts.Condition{Kind: alerts.InstanceDown, Subject: subject, Instance: subject, Summary: subject + " is down"}); err != nil {
			t.Fatal(err)
		}
	}
	same(nil, "alerts", "list")
	same(nil, "alerts", "list", "--json", "--limit", "5")
	list := runCLI(ctx, remote, "alerts", "list", "--subject", "inst-a").out
	idA := numbers.FindString(strings.Split(list, "\n")[1])
	list = runCLI(ctx, local, "alerts", "list", "--subject", "inst-b").out
	idB := numbers.FindString(strings.Split(list, "\n")[1])
	twin([]string{"alerts", "ack", idA}, []string{"alerts", "ack", idB}, "inst-a", "inst-b")
	twin([]string{"alerts", "silence", "acme-rm", "--for", "2h", "--reason", "maintenance"},
		[]string{"alerts", "silence", "globex-rm", "--for", "2h", "--reason", "maintenance"}, "acme-rm", "globex-rm")
	same(nil, "alerts", "silences")
	same(nil, "alerts", "list", "--all", "--json")
	sameFail("alerts", "ack", "424242")

	// Migrations: a run remotely with --wait, then its status both ways.
	covered["migrate up"] = true
	up := runCLI(ctx, remote, "migrate", "up", "--concurrency", "2", "--idempotency-key", "rm-1", "--wait")
	if up.err != nil || !strings.Contains(up.out, "migration run 1 started") || !strings.Contains(up.out, "[###") ||
		!strings.Contains(up.out, "succeeded 2, failed 0") {
		t.Errorf("remote migrate up --wait: %v\n%s", up.err, up.out)
	}
	same(nil, "migrate", "up", "--concurrency", "2", "--idempotency-key", "rm-1")
	same(nil, "migrate", "status")
	same(nil, "migrate", "status", "1", "--json")
	same(nil, "migrate", "retry", "1")
	sameFail("migrate", "status", "99")

	// Cost: dismiss one recommendation remotely and its twin locally;
	// apply a third remotely with --wait.
	catalog := controlplane.NewStore(db)
	for _, key := range []string{"orders(a)", "orders(b)", "orders(c)"} {
		if _, err := catalog.UpsertRecommendation(ctx, controlplane.Recommendation{Kind: cost.KindCreateIndex, Key: key,
			Tenants: []string{"acme-rm"}, Evidence: []byte(`{"table": "orders", "columns": ["customer_id"]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	same(nil, "cost", "report", "--json")
	twin([]string{"cost", "dismiss", "1"}, []string{"cost", "dismiss", "2"})
	sameFail("cost", "dismiss", "1")
	covered["cost apply"] = true
	apply := runCLI(ctx, remote, "cost", "apply", "3", "--wait")
	if !strings.Contains(apply.out, "recommendation 3: migration run 2 started for 1 tenants") || !strings.Contains(apply.out, "run 2: ") ||
		!regexp.MustCompile(`(?m)^recommendation 3: (open|applied) `).MatchString(apply.out) {
		t.Errorf("remote cost apply --wait: %v\n%s", apply.err, apply.out)
	}
	same(nil, "cost", "report", "--tenant", "acme-rm", "--json")

	// An analysis asked for remotely runs on the fleet's workers; this
	// fleet's instance server has no pg_stat_statements preloaded, so the
	// analysis fails and --wait says why.
	covered["cost analyze"] = true
	if an := runCLI(ctx, remote, "cost", "analyze"); an.err != nil || !strings.Contains(an.out, "task cost:analyze:request on queue default") {
		t.Errorf("remote cost analyze: %v\n%s", an.err, an.out)
	}
	if an := runCLI(ctx, remote, "cost", "analyze", "--wait", "--timeout", "2m"); !errors.Is(an.err, cost.ErrAnalysisFailed) ||
		!strings.Contains(an.err.Error(), "pg_stat_statements") {
		t.Errorf("remote cost analyze --wait on a server without pg_stat_statements: %v, want the analysis's failure", an.err)
	}

	// Operators: a user and a token made remotely, their twins locally.
	addUser := func(env map[string]string, name string) cliResult {
		var out, errOut bytes.Buffer
		err := runWithInput(ctx, []string{"users", "add", name, "--role", "viewer", "--password-stdin"}, func(k string) string { return env[k] },
			strings.NewReader("correct horse battery staple\n"), &out, &errOut)
		return cliResult{out.String(), errOut.String(), err}
	}
	covered["users add"] = true
	if r, l := addUser(remote, "vera-rm"), addUser(local, "vic-rm"); r.err != nil || l.err != nil ||
		strings.ReplaceAll(r.out, "vera-rm", "X") != strings.ReplaceAll(l.out, "vic-rm", "X") || r.out != "user vera-rm added (viewer)\n" {
		t.Errorf("users add: remote %v %q, local %v %q", r.err, r.out, l.err, l.out)
	}
	same(timestamps, "users", "list")
	same(timestamps, "users", "list", "--json")
	twin([]string{"users", "disable", "vera-rm"}, []string{"users", "disable", "vic-rm"}, "vera-rm", "vic-rm")
	sameFail("users", "disable", "nobody-rm")
	covered["tokens create"] = true
	if r := runCLI(ctx, remote, "tokens", "create", "bot-rm", "--role", "viewer"); r.err != nil || !strings.HasPrefix(r.out, "tft_") ||
		!strings.Contains(r.stderr, "token bot-rm created (viewer)") {
		t.Errorf("remote tokens create: %v %q %q", r.err, r.out, r.stderr)
	}
	if l := runCLI(ctx, local, "tokens", "create", "bot-lc", "--role", "viewer", "--json"); l.err != nil || !strings.Contains(l.out, `"token": "tft_`) {
		t.Errorf("local tokens create --json: %v %q", l.err, l.out)
	}
	same(timestamps, "tokens", "list")
	same(timestamps, "tokens", "list", "--json")
	twin([]string{"tokens", "revoke", "bot-rm"}, []string{"tokens", "revoke", "bot-lc"}, "bot-rm", "bot-lc")
	sameFail("tokens", "revoke", "nobody-rm")

	// Offboarding and purge, remotely and locally; a retry of a tenant
	// that has not failed is the same conflict both ways.
	twin([]string{"tenants", "offboard", "acme-rm", "--wait"}, []string{"tenants", "offboard", "globex-rm", "--wait"}, "acme-rm", "globex-rm")
	twin([]string{"tenants", "purge", "acme-rm", "--wait"}, []string{"tenants", "purge", "globex-rm", "--wait"}, "acme-rm", "globex-rm")
	if r := sameFail("tenants", "retry", "acme-rm"); !errors.Is(r.err, errConflict) || exitOf(r.err) != 1 {
		t.Errorf("remote retry of an offboarded tenant: %v, want a conflict", r.err)
	}
	if r := sameFail("tenants", "show", "nobody"); !errors.Is(r.err, errNotFound) || exitOf(r.err) != 1 {
		t.Errorf("remote show of an unknown tenant: %v, want not found", r.err)
	}
	if r := sameFail("tenants", "onboard", "bad-tier", "--name", "X", "--tier", "gold"); !errors.Is(r.err, errUsage) {
		t.Errorf("remote onboard with a bad tier: %v, want a usage error (422)", r.err)
	}

	var missing []string
	for _, leaf := range completionLeaves() {
		if !covered[leaf] && !localByNature[leaf] {
			missing = append(missing, leaf)
		}
	}
	if len(missing) > 0 {
		t.Errorf("commands without a remote-mode test: %v", missing)
	}
}

// localByNature are the commands that do not go through the API (see
// remoteRefusals and docs/architecture.md).
var localByNature = map[string]bool{
	"run": true, "probe": true, "config": true, "completion": true, "help": true, "demo": true,
}

// TestRemoteModeRefusals: a wrong token, a missing token, a cleartext
// non-loopback server and the local-only commands fail clearly, and the
// token never appears in what the CLI prints.
func TestRemoteModeRefusals(t *testing.T) {
	local, _, _ := scratchFleet(t, "rf")
	ctx := context.Background()
	_, server := startServedFleet(t, ctx, local)

	const wrong = "wrong-token-must-not-leak-42"
	r := runCLI(ctx, remoteEnv(server, wrong), "tenants", "list")
	if !errors.Is(r.err, errUnauthorized) || exitOf(r.err) != 1 || !strings.Contains(r.err.Error(), "FLEET_API_TOKEN") {
		t.Errorf("wrong token: %v, want a clear unauthorized error naming FLEET_API_TOKEN", r.err)
	}
	for _, s := range []string{r.err.Error(), r.out, r.stderr} {
		if strings.Contains(s, wrong) || strings.Contains(s, remoteToken) {
			t.Errorf("a token leaks: %q", s)
		}
	}
	r = runCLI(ctx, remoteEnv(server, ""), "tenants", "list")
	if !errors.Is(r.err, errUsage) || !strings.Contains(r.err.Error(), "FLEET_API_TOKEN is not") {
		t.Errorf("no token: %v, want a usage error saying so", r.err)
	}
	for _, bad := range []string{"http://fleet.example.com", "https://user:pw@fleet.example.com", "ftp://x", "fleet.example.com"} {
		if r := runCLI(ctx, remoteEnv(bad, remoteToken), "tenants", "list"); !errors.Is(r.err, errUsage) || strings.Contains(r.err.Error(), "pw") {
			t.Errorf("FLEET_SERVER=%s: %v, want a usage error", bad, r.err)
		}
	}
	for _, args := range [][]string{{"run"}, {"demo"}} {
		if r := runCLI(ctx, remoteEnv(server, remoteToken), args...); !errors.Is(r.err, errLocalOnly) || !strings.Contains(r.err.Error(), "FLEET_SERVER") {
			t.Errorf("fleet %v in remote mode: %v, want a local-only refusal", args, r.err)
		}
	}
	if r := runCLI(ctx, remoteEnv(server, remoteToken), "cost", "help"); r.err != nil || !strings.Contains(r.out, "fleet cost analyze") {
		t.Errorf("fleet cost help in remote mode: %v", r.err)
	}
	// A server that answers something other than the API (a proxy's
	// page) is reported by status, not by its body.
	if r := runCLI(ctx, remoteEnv(server+"/nowhere", remoteToken), "tenants", "list"); !errors.Is(r.err, errUnauthorized) && !errors.Is(r.err, errNotFound) {
		t.Errorf("a path prefix the server does not serve: %v", r.err)
	}
}

// leafOf is the command path of args: "tenants list", "health".
func leafOf(args []string) string {
	node, ok := completionTree[args[0]]
	if !ok || len(node.subs) == 0 || len(args) < 2 {
		return args[0]
	}
	return args[0] + " " + args[1]
}

// completionLeaves lists every command path of the completion tree.
func completionLeaves() []string {
	var out []string
	for name, node := range completionTree {
		if len(node.subs) == 0 {
			out = append(out, name)
		}
		for sub := range node.subs {
			out = append(out, name+" "+sub)
		}
	}
	sort.Strings(out)
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func exitOf(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}
