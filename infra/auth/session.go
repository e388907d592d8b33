package auth

import (
	"context"
	"errors"
	"time"
)

// Session is a browser login: the id its cookie carries (only its digest
// is stored), the CSRF token every state-changing request of it must
// carry, who it is, and when it ends at the latest.
type Session struct {
	ID        string
	CSRFToken string
	Principal Principal
	ExpiresAt time.Time
}

// ErrBadCredentials marks a login, token or session that does not prove
// anything: wrong password, unknown or disabled user, revoked token,
// expired session. Callers answer without saying which.
var ErrBadCredentials = errors.New("auth: invalid credentials")

// ErrRateLimited marks a login refused because of too many recent failed
// logins for its user or address; the password was not checked.
var ErrRateLimited = errors.New("auth: too many failed logins, try again later")

// ActorFrom is how the audit log names the principal ctx carries, or
// fallback when it carries none (code running outside the HTTP front and
// the CLI).
func ActorFrom(ctx context.Context, fallback string) string {
	if p, ok := PrincipalFrom(ctx); ok {
		return p.Actor()
	}
	return fallback
}
