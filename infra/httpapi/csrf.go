package httpapi

import (
	"mime"
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// Where a state-changing request of a browser session carries the
// session's CSRF token.
const (
	// HeaderCSRFToken is the header scripts and the dashboard's pages send.
	HeaderCSRFToken = "X-CSRF-Token" //nolint:gosec // G101: a header name, not a credential
	// CSRFFormField is the form field of server-rendered forms.
	CSRFFormField = "csrf_token"
	// csrfCookie holds the session's CSRF token where the fleet's own pages'
	// scripts can read it (not HttpOnly; SameSite=Strict, so no other site
	// sees it). axios, which Asynqmon's page uses, copies it into the
	// X-XSRF-TOKEN header of its same-origin requests by itself.
	csrfCookie = "XSRF-TOKEN"
	// headerXSRFToken is the header axios sends it in.
	headerXSRFToken = "X-XSRF-TOKEN" //nolint:gosec // G101: a header name, not a credential
)

// validCSRF reports whether r carries want, the session's CSRF token, in
// the X-CSRF-Token or X-XSRF-TOKEN header or, for a form post, the
// csrf_token field; compared in constant time.
func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(HeaderCSRFToken)
	if got == "" {
		got = r.Header.Get(headerXSRFToken)
	}
	if got == "" && isForm(r.Header.Get("Content-Type")) {
		got = r.PostFormValue(CSRFFormField)
	}
	return want != "" && got != "" && auth.SameSecret(got, want)
}

func isForm(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	return err == nil && (media == "application/x-www-form-urlencoded" || media == "multipart/form-data")
}

// setSessionCookies sets the session cookie (HttpOnly, SameSite=Strict,
// Secure over TLS or when secure is set, until the session's absolute
// expiry) and the CSRF cookie.
func setSessionCookies(w http.ResponseWriter, r *http.Request, sess auth.Session, secure bool) {
	// Secure is not constant: over plain HTTP (the loopback default) a
	// Secure cookie would never come back.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: HttpOnly and SameSite=Strict always; Secure over TLS or when configured
		Name: SessionCookie, Value: sess.ID, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
	})
	setCSRFCookie(w, r, sess.CSRFToken, sess.ExpiresAt, secure)
}

func setCSRFCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time, secure bool) {
	// Not HttpOnly on purpose: the fleet's own pages' scripts (axios in
	// Asynqmon) read it; SameSite=Strict keeps it from other sites.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: readable by same-origin scripts by design (see above)
		Name: csrfCookie, Value: token, Path: "/", Expires: expires,
		SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
	})
}

// refreshCSRFCookie sets the CSRF cookie again when the browser lacks it.
func refreshCSRFCookie(w http.ResponseWriter, r *http.Request, sess auth.Session, secure bool) {
	if c, err := r.Cookie(csrfCookie); err == nil && c.Value == sess.CSRFToken {
		return
	}
	setCSRFCookie(w, r, sess.CSRFToken, sess.ExpiresAt, secure)
}

// clearSessionCookies tells the browser to forget both cookies.
func clearSessionCookies(w http.ResponseWriter, r *http.Request, secure bool) {
	for _, name := range []string{SessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: a deletion (MaxAge -1); Secure as when it was set
			Name: name, Path: "/", MaxAge: -1, HttpOnly: name == SessionCookie,
			SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
		})
	}
}
