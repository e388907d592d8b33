package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// routeKind is what a guarded route is: it decides how a request without
// a credential is answered and whether a viewer may write.
type routeKind int

const (
	// routeAPI: the JSON API; no credential is 401 JSON, never a redirect.
	routeAPI routeKind = iota
	// routePage: pages (the dashboard, Asynqmon, /metrics); a browser
	// without a session is sent to /login.
	routePage
	// routeLogout: POST /logout, which a viewer may send too.
	routeLogout
)

type sessionKey struct{}

// sessionFrom returns the browser session of a request authenticated by
// its cookie.
func sessionFrom(ctx context.Context) (auth.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(auth.Session)
	return s, ok
}

// guard is the one gate of every route behind authentication:
//
//  1. Authenticate (Server.authenticate); without a valid credential,
//     Server.unauthenticated answers (a redirect to /login for a browser
//     asking for a page, 401 otherwise).
//  2. Put the principal (auth.WithPrincipal) and, for a session, its CSRF
//     token (auth.WithCSRFToken) in the request context.
//  3. A request whose method is not GET, HEAD or OPTIONS must, unless it
//     was made with a bearer token, be same-origin (originGuard); with a
//     session cookie it must also carry the session's CSRF token
//     (validCSRF); and its principal must be allowed to act (an operator;
//     a viewer gets 403), except for POST /logout.
func (s *Server) guard(kind routeKind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.authenticate(r)
		if err != nil {
			s.unauthenticated(w, r, kind != routeAPI, err)
			return
		}
		ctx := auth.WithPrincipal(r.Context(), id.principal)
		if id.cred == credentialSession {
			ctx = auth.WithCSRFToken(ctx, id.session.CSRFToken)
			ctx = context.WithValue(ctx, sessionKey{}, id.session)
			refreshCSRFCookie(w, r, id.session, s.cfg.SecureCookies)
		}
		r = r.WithContext(ctx)
		if !safeMethod(r.Method) {
			if id.cred != credentialBearer && s.origins.refuse(w, r) {
				return
			}
			if id.cred == credentialSession && !validCSRF(r, id.session.CSRFToken) {
				s.cfg.Logger.WarnContext(ctx, "write without the session's CSRF token refused",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("actor", id.principal.Actor()))
				WriteError(w, http.StatusForbidden, "missing or wrong CSRF token: send the session's token as X-CSRF-Token or the csrf_token form field")
				return
			}
			if kind != routeLogout && !id.principal.CanAct() {
				s.cfg.Logger.WarnContext(ctx, "viewer's write refused",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("actor", id.principal.Actor()))
				WriteError(w, http.StatusForbidden, "role "+string(id.principal.Role)+" may not act: an operator's login is needed")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// safeMethod reports whether m must not change state.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
