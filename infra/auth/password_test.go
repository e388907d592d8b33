package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	// The default cost, once (bcrypt is slow under the race detector);
	// the rest at the lowest.
	if h, err := HashPassword("correct horse battery"); err != nil || !strings.HasPrefix(h, "$2a$11$") {
		t.Fatalf("HashPassword = %q, %v: want a bcrypt hash of cost %d", h, err, PasswordCost)
	}
	h, err := HashPasswordCost("correct horse battery", MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "horse") || !strings.HasPrefix(h, "$2a$04$") {
		t.Fatalf("hash %q: want a bcrypt hash that does not hold the password", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Error("the right password does not match its hash")
	}
	for _, wrong := range []string{"correct horse batterY", "", "correct horse battery ", strings.Repeat("x", 100)} {
		if CheckPassword(h, wrong) {
			t.Errorf("wrong password %q matches", wrong)
		}
	}
	h2, _ := HashPasswordCost("correct horse battery", MinPasswordCost)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, weak := range []string{"short", strings.Repeat("a", MaxPasswordLen+1), "\xff\xfe invalid utf-8"} {
		if _, err := HashPasswordCost(weak, MinPasswordCost); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("HashPassword(%q) = %v, want ErrWeakPassword", weak, err)
		}
	}
}

func TestPasswordCostBounds(t *testing.T) {
	t.Parallel()
	for _, cost := range []int{MinPasswordCost - 1, MaxPasswordCost + 1} {
		if _, err := HashPasswordCost("correct horse battery", cost); err == nil {
			t.Errorf("cost %d accepted", cost)
		}
	}
}

func TestTokensAndSecrets(t *testing.T) {
	t.Parallel()
	a, b := NewToken(), NewToken()
	if a == b || !IsToken(a) || len(a) != len(TokenPrefix)+43 {
		t.Fatalf("tokens %q, %q: want two distinct tft_ tokens of 256 bits", a, b)
	}
	if IsToken("test-token-0123456789") || IsToken(TokenPrefix) {
		t.Error("IsToken accepts something that is not a named token")
	}
	if string(Digest(a)) == string(Digest(b)) || len(Digest(a)) != 32 {
		t.Error("digests: want 32 distinct bytes per token")
	}
	if !SameSecret(a, a) || SameSecret(a, b) || SameSecret(a, "") {
		t.Error("SameSecret compares wrong")
	}
}

func TestActorFrom(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if got := ActorFrom(ctx, "api"); got != "api" {
		t.Errorf("no principal: %q, want the fallback", got)
	}
	for p, want := range map[Principal]string{
		{Name: "alice", Role: RoleOperator, Via: "session"}: "user:alice",
		{Name: "ci", Role: RoleViewer, Via: "token"}:        "token:ci",
		{Name: "bootstrap", Via: "bootstrap"}:               "bootstrap",
		{Name: "root", Via: "local"}:                        "local:root",
	} {
		if got := ActorFrom(WithPrincipal(ctx, p), "api"); got != want {
			t.Errorf("%+v: actor %q, want %q", p, got, want)
		}
	}
}
