package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// TestUsersAndTokensCLI: `fleet users add|list|disable` and `fleet tokens
// create|list|revoke` on the control plane: the password comes from
// standard input and logs in, the token printed once authenticates until
// revoked, everything is audited as local:<OS user>.
func TestUsersAndTokensCLI(t *testing.T) {
	t.Parallel()
	env, db, _ := scratchFleet(t, "u")
	env["FLEET_PASSWORD_COST"] = "4" // bcrypt is slow under the race detector
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	cli := func(stdin string, args ...string) (string, error) {
		var stdout bytes.Buffer
		err := runWithInput(ctx, args, getenv, strings.NewReader(stdin), &stdout, io.Discard)
		return stdout.String(), err
	}
	ops := operators.New(operators.Config{Store: controlplane.NewStore(db), PasswordCost: auth.MinPasswordCost})

	if out, err := cli("alice's long password\n", "users", "add", "alice", "--role", "operator", "--password-stdin"); err != nil || !strings.Contains(out, "user alice added (operator)") {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	if out, err := cli("victor's long password", "users", "add", "--role", "viewer", "victor", "--password-stdin", "--json"); err != nil ||
		!strings.Contains(out, `"role": "viewer"`) || strings.Contains(out, "password") {
		t.Fatalf("users add --json: %v\n%s", err, out)
	}
	for _, bad := range []struct {
		stdin string
		args  []string
	}{
		{"long enough password", []string{"users", "add", "bob", "--role", "operator"}}, // no terminal
		{"long enough password", []string{"users", "add", "bob", "--role", "root", "--password-stdin"}},
		{"long enough password", []string{"users", "add", "--role", "viewer", "--password-stdin"}},
		{"", []string{"users", "add", "bob", "--role", "viewer", "--password-stdin"}},
		{"", []string{"users", "frobnicate"}},
		{"", []string{"tokens", "create", "x", "--role", "admin"}},
	} {
		if _, err := cli(bad.stdin, bad.args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad.args, err)
		}
	}
	if _, err := cli("short\n", "users", "add", "bob", "--role", "viewer", "--password-stdin"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "12 to 72 bytes") {
		t.Errorf("short password: %v, want ErrInvalid", err)
	}
	if _, err := cli("alice's long password\n", "users", "add", "alice", "--role", "viewer", "--password-stdin"); !errors.Is(err, errConflict) {
		t.Errorf("second alice: %v, want ErrOperatorExists", err)
	}
	// The password read from stdin is the one that logs in.
	if _, err := ops.Login(ctx, "alice", "alice's long password", "192.0.2.1"); err != nil {
		t.Fatalf("login with the CLI's password: %v", err)
	}
	out, err := cli("", "users", "list", "--json")
	var users restapi.UserListJSON
	if err != nil || json.Unmarshal([]byte(out), &users) != nil || len(users.Users) != 2 || users.Users[0].Name != "alice" {
		t.Fatalf("users list --json: %v\n%s", err, out)
	}
	if out, err = cli("", "users", "list"); err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "victor") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if out, err = cli("", "users", "disable", "alice"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	if _, err := ops.Login(ctx, "alice", "alice's long password", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("login of the disabled alice: %v", err)
	}
	if _, err := cli("", "users", "disable", "nobody"); !errors.Is(err, errNotFound) {
		t.Errorf("disable nobody: %v", err)
	}

	tok, err := cli("", "tokens", "create", "ci", "--role", "operator")
	tok = strings.TrimSpace(tok)
	if err != nil || !auth.IsToken(tok) {
		t.Fatalf("tokens create: %v %q", err, tok)
	}
	if p, err := ops.Token(ctx, tok); err != nil || p.Actor() != "token:ci" || !p.CanAct() {
		t.Fatalf("the printed token: %+v, %v", p, err)
	}
	out, err = cli("", "tokens", "create", "ro", "--role", "viewer", "--json")
	var created restapi.TokenCreatedJSON
	if err != nil || json.Unmarshal([]byte(out), &created) != nil || !auth.IsToken(created.Token) || created.Role != "viewer" {
		t.Fatalf("tokens create --json: %v\n%s", err, out)
	}
	if _, err := cli("", "tokens", "create", "ci", "--role", "viewer"); !errors.Is(err, errConflict) {
		t.Errorf("second ci: %v", err)
	}
	out, err = cli("", "tokens", "list")
	if err != nil || !strings.Contains(out, "LAST USED") || !strings.Contains(out, "ci") || strings.Contains(out, "tft_") {
		t.Fatalf("tokens list: %v\n%s", err, out)
	}
	if out, err = cli("", "tokens", "revoke", "ci"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("tokens revoke: %v\n%s", err, out)
	}
	if _, err := ops.Token(ctx, tok); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("revoked token: %v", err)
	}
	out, err = cli("", "tokens", "list", "--json")
	var tokens restapi.TokenListJSON
	if err != nil || json.Unmarshal([]byte(out), &tokens) != nil || len(tokens.Tokens) != 2 || tokens.Tokens[0].RevokedAt == nil {
		t.Fatalf("tokens list --json: %v\n%s", err, out)
	}
	if _, err := cli("", "tokens", "revoke", "nope"); !errors.Is(err, errNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	actor := "local:" + localPrincipal().Name
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = $1 AND action IN ('user.add', 'user.disable', 'token.create', 'token.revoke')`, actor).Scan(&n); err != nil || n != 6 {
		t.Errorf("CLI changes audited as %s: %d (%v), want 6", actor, n, err)
	}
}
