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
	HeaderCSRFToken = "X-CSRF-Token"
	// CSRFFormField is the form field of server-rendered forms.
	CSRFFormField = "csrf_token"
	// csrfCookie holds the session's CSRF token where the fleet's own pages'
	// scripts can read it (not HttpOnly; SameSite=Strict, so no other site
	// sees it). axios, which Asynqmon's page uses, copies it into the
	// X-XSRF-TOKEN header of its same-origin requests by itself.
	csrfCookie = "XSRF-TOKEN"
	// headerXSRFToken is the header axios sends it in.
	headerXSRFToken = "X-XSRF-TOKEN"
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
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: sess.ID, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
	})
	setCSRFCookie(w, r, sess.CSRFToken, sess.ExpiresAt, secure)
}

func setCSRFCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time, secure bool) {
	http.SetCookie(w, &http.Cookie{
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
	for _, c := range []*http.Cookie{
		{Name: SessionCookie, HttpOnly: true},
		{Name: csrfCookie},
	} {
		c.Path, c.MaxAge, c.SameSite, c.Secure = "/", -1, http.SameSiteStrictMode, secure || r.TLS != nil
		http.SetCookie(w, c)
	}
}
