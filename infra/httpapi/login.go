package httpapi

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

//go:embed templates/login.html
var loginFS embed.FS

var loginPage = template.Must(template.ParseFS(loginFS, "templates/login.html"))

// maxLoginForm bounds the body of POST /login.
const maxLoginForm = 16 << 10

// loginView is what the login form shows.
type loginView struct {
	Next, User, Error string
}

// mountLogin adds GET and POST /login and POST /logout (with an
// Authenticator only).
func (s *Server) mountLogin() {
	s.handle("GET /login", http.HandlerFunc(s.showLogin))
	s.handle("POST /login", http.HandlerFunc(s.login))
	s.handle("POST /logout", s.guard(routeLogout, http.HandlerFunc(s.logout)))
}

// showLogin serves the login form.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	renderLogin(w, http.StatusOK, loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

// login checks the form's user and password: on success it sets the
// session cookies and redirects (303) to next; a wrong login is 401 and a
// rate-limited one 429, both with the form again. A cross-origin POST is
// 403 (login CSRF: another site logging the browser in as someone else).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.origins.refuse(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil || !isForm(r.Header.Get("Content-Type")) {
		renderLogin(w, http.StatusBadRequest, loginView{Error: "Send the login form."})
		return
	}
	user, next := strings.TrimSpace(r.PostForm.Get("user")), safeNext(r.PostForm.Get("next"))
	sess, err := s.cfg.Authenticator.Login(r.Context(), user, r.PostForm.Get("password"), clientAddr(r))
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		renderLogin(w, http.StatusTooManyRequests, loginView{Next: next, User: user,
			Error: "Too many failed logins for this user or from this address. Try again later."})
		return
	case errors.Is(err, auth.ErrBadCredentials):
		renderLogin(w, http.StatusUnauthorized, loginView{Next: next, User: user, Error: "Wrong user name or password."})
		return
	case err != nil:
		s.cfg.Logger.ErrorContext(r.Context(), "login failed", slog.Any("error", err))
		renderLogin(w, http.StatusServiceUnavailable, loginView{Next: next, User: user, Error: "Login is unavailable; try again."})
		return
	}
	setSessionCookies(w, r, sess, s.cfg.SecureCookies)
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: next passed safeNext, a path on this server
}

// logout ends the request's session (when it is one), clears the cookies
// and redirects to the login form.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess, ok := sessionFrom(r.Context()); ok {
		if err := s.cfg.Authenticator.Logout(r.Context(), sess.ID); err != nil {
			s.cfg.Logger.ErrorContext(r.Context(), "logout failed", slog.Any("error", err))
			WriteError(w, http.StatusServiceUnavailable, "logout failed, try again")
			return
		}
	}
	clearSessionCookies(w, r, s.cfg.SecureCookies)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func renderLogin(w http.ResponseWriter, status int, v loginView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, v)
}

// loginURL is the login form that returns to next.
func loginURL(next string) string { return "/login?next=" + url.QueryEscape(safeNext(next)) }

// safeNext returns next when it is a path on this server ("/x?y"), else
// "/": an absolute URL, a scheme-relative "//host", a backslash (which
// browsers read as a slash) or a control character would send the user
// elsewhere after logging in (an open redirect).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "/login") {
		return "/"
	}
	return next
}

// clientAddr is the rate limit's address: the connection's peer. Behind a
// reverse proxy that is the proxy (X-Forwarded-For is not trusted; see
// docs/security.md).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
