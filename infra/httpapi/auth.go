package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// credential is how a request proved who it is. It decides what else a
// state-changing request must show (see Server.guard).
type credential int

const (
	// credentialBearer is an "Authorization: Bearer <token>" header
	// (FLEET_API_TOKEN or a named token). Only a program sets it: a browser
	// never attaches it to a request on its own, so a page on another site
	// cannot forge it.
	credentialBearer credential = iota + 1
	// credentialBasic is HTTP basic auth with a token as password. A
	// browser that logged in once replays it on every request to the
	// fleet's origin, including requests another site makes it send:
	// writes must prove they come from the fleet's own pages.
	credentialBasic
	// credentialSession is the dashboard's session cookie, which a browser
	// also attaches on its own: writes must be same-origin and carry the
	// session's CSRF token.
	credentialSession
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "fleet_session"

// bootstrapPrincipal is the holder of FLEET_API_TOKEN.
var bootstrapPrincipal = auth.Principal{Name: "bootstrap", Role: auth.RoleOperator, Via: "bootstrap"}

// Authenticator checks named credentials: users' passwords and sessions,
// named API tokens (*operators.Service). Errors other than
// auth.ErrBadCredentials and auth.ErrRateLimited mean the check could not
// be made (the control plane is down): 503.
type Authenticator interface {
	// Token returns the principal of a named API token.
	Token(ctx context.Context, token string) (auth.Principal, error)
	// Session returns the live session with this id.
	Session(ctx context.Context, id string) (auth.Session, error)
	// Login checks a password and opens a session; addr is the client's
	// address, for the rate limit.
	Login(ctx context.Context, user, password, addr string) (auth.Session, error)
	// Logout ends a session.
	Logout(ctx context.Context, id string) error
}

// identity is who a request proved to be, and how.
type identity struct {
	principal auth.Principal
	cred      credential
	session   auth.Session // with credentialSession
}

// errNoCredential: the request carries no credential at all (a browser
// that has not logged in), as opposed to a wrong one.
var errNoCredential = errors.New("no credential")

// authenticate finds the request's credential. An Authorization header
// wins over the cookie and, when wrong, is not retried with it. Bearer and
// basic passwords are FLEET_API_TOKEN (compared in constant time) or a
// named token; the cookie is a session id. A token in the query string is
// never looked at.
func (s *Server) authenticate(r *http.Request) (identity, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		var (
			secret string
			cred   credential
		)
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			secret, cred = tok, credentialBearer
		} else if _, pass, ok := r.BasicAuth(); ok {
			secret, cred = pass, credentialBasic
		} else {
			return identity{}, auth.ErrBadCredentials
		}
		if auth.SameSecret(secret, s.cfg.Token) {
			return identity{principal: bootstrapPrincipal, cred: cred}, nil
		}
		if s.cfg.Authenticator == nil || !auth.IsToken(secret) {
			return identity{}, auth.ErrBadCredentials
		}
		p, err := s.cfg.Authenticator.Token(ctx, secret)
		if err != nil {
			return identity{}, err
		}
		return identity{principal: p, cred: cred}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || s.cfg.Authenticator == nil {
		return identity{}, errNoCredential
	}
	if !plausibleSecret(c.Value) {
		return identity{}, auth.ErrBadCredentials
	}
	sess, err := s.cfg.Authenticator.Session(ctx, c.Value)
	if err != nil {
		return identity{}, err
	}
	return identity{principal: sess.Principal, cred: credentialSession, session: sess}, nil
}

// plausibleSecret reports whether a cookie value can be a session id
// (auth.NewSecret: 43 characters of base64url), so garbage costs no
// database read.
func plausibleSecret(v string) bool {
	if len(v) != 43 {
		return false
	}
	return strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// unauthenticated answers a request without a valid credential: a
// browser asking for a page (GET or HEAD, Accept: text/html, a page route)
// is sent to the login form with the page as next; anything else gets 401
// JSON. Without an Authenticator there is no login form, and the 401
// carries a Basic challenge so a browser can log in with the token.
func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request, page bool, err error) {
	if err != nil && !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, errNoCredential) {
		s.cfg.Logger.ErrorContext(r.Context(), "authentication unavailable", slog.Any("error", err))
		WriteError(w, http.StatusServiceUnavailable, "authentication unavailable, try again")
		return
	}
	if _, cerr := r.Cookie(SessionCookie); cerr == nil {
		clearSessionCookies(w, r, s.cfg.SecureCookies) // ended or unknown: drop it
	}
	if s.cfg.Authenticator == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="tenantfleet", charset="UTF-8"`)
		WriteError(w, http.StatusUnauthorized, "missing or invalid API token")
		return
	}
	if page && (r.Method == http.MethodGet || r.Method == http.MethodHead) && wantsHTML(r) {
		http.Redirect(w, r, loginURL(r.URL.RequestURI()), http.StatusSeeOther) //nolint:gosec // G710: /login on this server; next is a local path (safeNext)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tenantfleet"`)
	WriteError(w, http.StatusUnauthorized, "authentication required: log in at /login, or send Authorization: Bearer <token>")
}

// wantsHTML reports whether the request is a browser's navigation.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
