package controlplane_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// TestOperatorTablesStore: the rows agents/operators builds on. The
// constraints hold (roles, unique names and digests, sessions only for
// enabled users), a session is usable only while neither idle nor
// expired, and failed logins are counted within the window and cleared.
func TestOperatorTablesStore(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if _, err := s.CreateOperatorUser(ctx, "alice", "operator", "$2a$04$hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOperatorUser(ctx, "alice", "viewer", "x"); !errors.Is(err, controlplane.ErrOperatorExists) {
		t.Errorf("second alice: %v", err)
	}
	if _, err := s.CreateOperatorUser(ctx, "root", "admin", "x"); err == nil {
		t.Error("a user with role admin was stored")
	}
	u, hash, err := s.OperatorUserForLogin(ctx, "alice")
	if err != nil || u.Role != "operator" || hash != "$2a$04$hash" {
		t.Fatalf("OperatorUserForLogin = %+v, %q, %v", u, hash, err)
	}

	digest := bytes.Repeat([]byte{7}, 32)
	sess, err := s.CreateOperatorSession(ctx, controlplane.OperatorSession{IDSHA256: digest, User: "alice", CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil || sess.Role != "operator" || sess.CreatedAt.IsZero() {
		t.Fatalf("CreateOperatorSession = %+v, %v", sess, err)
	}
	if _, err := s.CreateOperatorSession(ctx, controlplane.OperatorSession{IDSHA256: []byte{1}, User: "nobody", CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("session of nobody: %v", err)
	}
	if got, err := s.UseOperatorSession(ctx, digest, time.Minute); err != nil || got.User != "alice" || got.CSRFToken != "c" {
		t.Fatalf("UseOperatorSession = %+v, %v", got, err)
	}
	// An idle timeout shorter than the time since the last use (an idle
	// timeout of zero: any time at all) ends it.
	if _, err := s.UseOperatorSession(ctx, digest, 0); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("idle session: %v", err)
	}
	if _, err := s.UseOperatorSession(ctx, digest, time.Hour); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("an ended session came back: %v", err)
	}
	// Disabling ends the sessions and the logins.
	if _, err := s.CreateOperatorSession(ctx, controlplane.OperatorSession{IDSHA256: digest, User: "alice", CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableOperatorUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseOperatorSession(ctx, digest, time.Hour); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("session of a disabled user: %v", err)
	}
	if _, _, err := s.OperatorUserForLogin(ctx, "alice"); !errors.Is(err, controlplane.ErrOperatorNotFound) {
		t.Errorf("login of a disabled user: %v", err)
	}
	if users, err := s.OperatorUsers(ctx); err != nil || len(users) != 1 || users[0].DisabledAt == nil {
		t.Errorf("OperatorUsers = %+v, %v", users, err)
	}

	if _, err := s.CreateAPIToken(ctx, "ci", "viewer", digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIToken(ctx, "ci2", "viewer", digest); err == nil {
		t.Error("two tokens with one digest were stored")
	}

	for range 3 {
		if err := s.RecordLoginFailures(ctx, time.Hour, "user:bob", "addr:192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.LoginFailures(ctx, "user:bob", time.Hour); err != nil || n != 3 {
		t.Errorf("failures of bob: %d, %v; want 3", n, err)
	}
	if err := s.ClearLoginFailures(ctx, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.LoginFailures(ctx, "user:bob", time.Hour); n != 0 {
		t.Errorf("failures of bob after clearing: %d", n)
	}
	if n, _ := s.LoginFailures(ctx, "addr:192.0.2.1", time.Hour); n != 3 {
		t.Errorf("failures of the address: %d, want 3 (not cleared with the user)", n)
	}
}
