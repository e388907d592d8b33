// Package auth names who is calling the fleet: operators and viewers who
// log in to the dashboard, scripts holding an API token, and the bootstrap
// operator of FLEET_API_TOKEN. The HTTP front puts the caller's Principal
// in the request context; handlers, the dashboard and the audit log read it
// from there.
package auth

import "context"

// Role is what a principal may do.
type Role string

// The roles. A viewer reads everything; an operator also acts.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleOperator }

// Principal is an authenticated caller.
type Principal struct {
	// Name is the user's or token's name; "bootstrap" for FLEET_API_TOKEN.
	Name string
	// Role is what it may do.
	Role Role
	// Via is how it proved itself: "session" (browser login), "token"
	// (a named API token), "bootstrap" (FLEET_API_TOKEN) or "local" (the
	// CLI in-process, with the control-plane credentials).
	Via string
}

// CanAct reports whether p may change anything.
func (p Principal) CanAct() bool { return p.Role == RoleOperator }

// Actor is how the audit log names p: "user:NAME", "token:NAME",
// "bootstrap", "local:NAME".
func (p Principal) Actor() string {
	switch p.Via {
	case "session":
		return "user:" + p.Name
	case "bootstrap":
		return "bootstrap"
	case "":
		return p.Name
	default:
		return p.Via + ":" + p.Name
	}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

type csrfKey struct{}

// WithCSRFToken returns ctx carrying the CSRF token bound to the request's
// browser session; pages put it in every form (field "csrf_token") and
// scripts send it as the X-CSRF-Token header.
func WithCSRFToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey{}, token)
}

// CSRFTokenFrom returns the session's CSRF token, "" outside a browser
// session.
func CSRFTokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey{}).(string)
	return s
}
