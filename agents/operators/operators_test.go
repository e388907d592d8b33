package operators

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// env is a Service over a scratch control plane, and a context whose
// principal is a local operator.
type env struct {
	svc *Service
	db  *pgxpool.Pool
	ctx context.Context
}

const alicePassword = "alice's long password"

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	_, db := cptest.Database(t)
	cfg.Store = controlplane.NewStore(db)
	cfg.PasswordCost = auth.MinPasswordCost
	cfg.Logger = cptest.DiscardLogger()
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{Name: "root", Role: auth.RoleOperator, Via: "local"})
	return &env{svc: New(cfg), db: db, ctx: ctx}
}

// count runs a count(*) query.
func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestUserAddListDisable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	if _, err := e.svc.AddUser(e.ctx, "alice", auth.RoleOperator, alicePassword); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddUser(e.ctx, "victor", auth.RoleViewer, "victor's long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddUser(e.ctx, "alice", auth.RoleViewer, alicePassword); !errors.Is(err, controlplane.ErrOperatorExists) {
		t.Errorf("second alice: %v, want ErrOperatorExists", err)
	}
	for _, bad := range []struct{ name, role, password string }{
		{"", "viewer", alicePassword},
		{"bob smith", "viewer", alicePassword},
		{"-bob", "viewer", alicePassword},
		{strings.Repeat("b", 65), "viewer", alicePassword},
		{"bob", "admin", alicePassword},
		{"bob", "viewer", "short"},
	} {
		if _, err := e.svc.AddUser(e.ctx, bad.name, auth.Role(bad.role), bad.password); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUser(%q, %q, %q) = %v, want ErrInvalid", bad.name, bad.role, bad.password, err)
		}
	}
	users, err := e.svc.Users(e.ctx)
	if err != nil || len(users) != 2 || users[0].Name != "alice" || users[0].Role != "operator" || users[1].Role != "viewer" {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if n := e.count(t, `SELECT count(*) FROM operator_users WHERE password_hash LIKE '%password%'`); n != 0 {
		t.Error("a password is stored in the clear")
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'local:root' AND action = 'user.add' AND details->>'user' = 'alice'`); n != 1 {
		t.Errorf("audit entries for adding alice: %d, want 1 naming local:root", n)
	}

	sess, err := e.svc.Login(e.ctx, "alice", alicePassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DisableUser(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Session(e.ctx, sess.ID); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("session of a disabled user: %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.Login(e.ctx, "alice", alicePassword, "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("login of a disabled user: %v, want ErrBadCredentials", err)
	}
	if err := e.svc.DisableUser(e.ctx, "nobody"); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("disable nobody: %v, want ErrOperatorNotFound", err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'local:root' AND action = 'user.disable'`); n != 1 {
		t.Errorf("audit entries for disabling: %d, want 1", n)
	}
}

func TestLoginAndWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	if _, err := e.svc.AddUser(e.ctx, "alice", auth.RoleOperator, alicePassword); err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []struct{ user, password string }{
		{"alice", alicePassword + "x"}, {"alice", ""}, {"mallory", alicePassword}, {"not a name!", alicePassword},
	} {
		if _, err := e.svc.Login(e.ctx, wrong.user, wrong.password, "192.0.2.7"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrBadCredentials", wrong.user, wrong.password, err)
		}
	}
	sess, err := e.svc.Login(e.ctx, "alice", alicePassword, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Principal != (auth.Principal{Name: "alice", Role: auth.RoleOperator, Via: "session"}) || len(sess.ID) != 43 || len(sess.CSRFToken) != 43 || sess.ID == sess.CSRFToken {
		t.Fatalf("session %+v", sess)
	}
	got, err := e.svc.Session(e.ctx, sess.ID)
	if err != nil || got.Principal != sess.Principal || got.CSRFToken != sess.CSRFToken {
		t.Fatalf("Session = %+v, %v; want the login's", got, err)
	}
	if n := e.count(t, `SELECT count(*) FROM operator_sessions WHERE id_sha256 = $1`, auth.Digest(sess.ID)); n != 1 {
		t.Error("the session is not stored by its id's digest")
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'operator.login' AND outcome = 'failed' AND actor = 'anonymous'`); n != 4 {
		t.Errorf("failed logins audited: %d, want 4", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'operator.login' AND outcome = 'done' AND actor = 'user:alice'`); n != 1 {
		t.Errorf("successful logins audited as user:alice: %d, want 1", n)
	}
	// Logout ends the session.
	ctx := auth.WithPrincipal(t.Context(), sess.Principal)
	if err := e.svc.Logout(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Session(e.ctx, sess.ID); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("session after logout: %v, want ErrBadCredentials", err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'operator.logout' AND actor = 'user:alice'`); n != 1 {
		t.Errorf("logouts audited as user:alice: %d, want 1", n)
	}
}

// TestSessionIdleAndAbsoluteExpiry ages sessions in the table (no
// sleeping): one not used for longer than the idle timeout and one past
// its absolute expiry are refused and deleted; a used one stays.
func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}) // idle 30m, max age 12h
	if _, err := e.svc.AddUser(e.ctx, "alice", auth.RoleOperator, alicePassword); err != nil {
		t.Fatal(err)
	}
	login := func() auth.Session {
		t.Helper()
		s, err := e.svc.Login(e.ctx, "alice", alicePassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	age := func(s auth.Session, sql string) {
		t.Helper()
		if _, err := e.db.Exec(t.Context(), sql, auth.Digest(s.ID)); err != nil {
			t.Fatal(err)
		}
	}
	fresh, idle, old := login(), login(), login()
	if left := time.Until(fresh.ExpiresAt); left > DefaultSessionMaxAge || left < DefaultSessionMaxAge-time.Minute {
		t.Fatalf("session expires in %v, want the default max age %v", left, DefaultSessionMaxAge)
	}
	// Idle 31 minutes; the fresh one was used 29 minutes ago.
	age(idle, `UPDATE operator_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_sha256 = $1`)
	age(fresh, `UPDATE operator_sessions SET last_seen_at = now() - interval '29 minutes' WHERE id_sha256 = $1`)
	// Used a second ago, but logged in 12 hours ago.
	age(old, `UPDATE operator_sessions SET expires_at = now() - interval '1 second' WHERE id_sha256 = $1`)
	if _, err := e.svc.Session(e.ctx, idle.ID); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("idle session: %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.Session(e.ctx, old.ID); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("session past its absolute expiry: %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.Session(e.ctx, fresh.ID); err != nil {
		t.Errorf("session used 29 minutes ago: %v, want it alive", err)
	}
	if n := e.count(t, `SELECT count(*) FROM operator_sessions WHERE last_seen_at > now() - interval '1 minute'`); n != 1 {
		t.Errorf("sessions left: %d, want only the fresh one (its use recorded)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM operator_sessions`); n != 1 {
		t.Errorf("stored sessions: %d, want the ended ones deleted", n)
	}
	if _, err := e.svc.Session(e.ctx, "not-a-session"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("unknown session: %v", err)
	}
}

// TestLoginRateLimitPerUserAndAddress: after N failures a user name is
// refused from any address, even with the right password, and an address
// is refused for any user; a success clears the user's count.
func TestLoginRateLimitPerUserAndAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxFailuresPerUser: 3, MaxFailuresPerAddress: 5})
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := e.svc.AddUser(e.ctx, u, auth.RoleOperator, u+"'s long password"); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, password, addr string) error {
		_, err := e.svc.Login(e.ctx, user, password, addr)
		return err
	}
	// Per user: three wrong passwords for alice from three addresses.
	for i, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if err := login("alice", "wrong password "+addr, addr); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if err := login("alice", "alice's long password", "198.51.100.9"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("alice's right password after 3 failures, from a new address: %v, want ErrRateLimited", err)
	}
	// Bob, from those addresses, is not affected.
	if err := login("bob", "bob's long password", "192.0.2.1"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// Per address: five failures from one address, for several users.
	for i, u := range []string{"bob", "bob", "carol", "carol", "nobody"} {
		if err := login(u, "wrong password", "203.0.113.5"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("address failure %d: %v", i, err)
		}
	}
	if err := login("carol", "carol's long password", "203.0.113.5"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("carol from the address after 5 failures: %v, want ErrRateLimited", err)
	}
	if err := login("carol", "carol's long password", "203.0.113.6"); err != nil {
		t.Fatalf("carol from elsewhere: %v", err)
	}
	// Carol's success cleared her two failures: two more do not lock her.
	for range 2 {
		_ = login("carol", "wrong password", "198.51.100.1")
	}
	if err := login("carol", "carol's long password", "198.51.100.2"); err != nil {
		t.Fatalf("carol after a success and 2 failures: %v", err)
	}
	// Rate-limited attempts are not audited (a flood would flood the log).
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'operator.login' AND outcome = 'failed'`); n != 10 {
		t.Errorf("failed logins audited: %d, want 10", n)
	}
}

func TestTokenCreateVerifyRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	tok, stored, err := e.svc.CreateToken(e.ctx, "ci", auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.IsToken(tok) || stored.Name != "ci" || stored.Role != "viewer" {
		t.Fatalf("token %q, %+v", tok, stored)
	}
	if _, _, err := e.svc.CreateToken(e.ctx, "ci", auth.RoleOperator); !errors.Is(err, controlplane.ErrOperatorExists) {
		t.Errorf("second ci: %v, want ErrOperatorExists", err)
	}
	if _, _, err := e.svc.CreateToken(e.ctx, "ci bot", auth.RoleOperator); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v, want ErrInvalid", err)
	}
	p, err := e.svc.Token(e.ctx, tok)
	if err != nil || p != (auth.Principal{Name: "ci", Role: auth.RoleViewer, Via: "token"}) {
		t.Fatalf("Token = %+v, %v", p, err)
	}
	for _, wrong := range []string{tok + "x", auth.NewToken(), "", "bootstrap-token-0123456789"} {
		if _, err := e.svc.Token(e.ctx, wrong); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("Token(%q) = %v, want ErrBadCredentials", wrong, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM api_tokens WHERE token_sha256 = $1 AND last_used_at IS NOT NULL`, auth.Digest(tok)); n != 1 {
		t.Error("the token is not stored by digest with its last use")
	}
	list, err := e.svc.Tokens(e.ctx)
	if err != nil || len(list) != 1 || list[0].LastUsedAt == nil || list[0].RevokedAt != nil {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	if err := e.svc.RevokeToken(e.ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Token(e.ctx, tok); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("revoked token: %v, want ErrBadCredentials", err)
	}
	if err := e.svc.RevokeToken(e.ctx, "nope"); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'local:root' AND action IN ('token.create', 'token.revoke')`); n != 2 {
		t.Errorf("token audit entries: %d, want 2", n)
	}
}
