package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireToken lets a request through only with the API token, as an
// "Authorization: Bearer <token>" header or as the password of HTTP basic
// auth (any user name), so a browser can log in to the dashboards. Anything
// else gets 401 with a Basic challenge.
func RequireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && tokenMatches(r, want) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="tenantfleet", charset="UTF-8"`)
		WriteError(w, http.StatusUnauthorized, "missing or invalid API token")
	})
}

func tokenMatches(r *http.Request, want []byte) bool {
	var got string
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		got = strings.TrimPrefix(h, "Bearer ")
	} else if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), want) == 1
}
