package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// credential is how a request proved that it holds the API token. It
// decides what else a state-changing request must show (see
// requireSameOriginWrites).
type credential int

const (
	// credentialNone: no valid credential (never reaches a handler behind
	// the token).
	credentialNone credential = iota
	// credentialBearer is an "Authorization: Bearer <token>" header. Only a
	// program sets it: a browser never attaches it to a request on its own,
	// so a page on another site cannot forge it.
	credentialBearer
	// credentialBasic is HTTP basic auth with the token as password. A
	// browser that logged in once replays it on every request to the
	// fleet's origin, including requests another site makes it send:
	// writes must prove they come from the fleet's own pages.
	credentialBasic
	// The dashboard's session cookie, when it is built, is a third
	// credential that a browser attaches on its own, like basic auth (see
	// requireSameOriginWrites for what it will additionally need).
)

type credentialKey struct{}

// credentialFrom returns the credential RequireToken accepted for the
// request, credentialNone outside RequireToken.
func credentialFrom(ctx context.Context) credential {
	c, _ := ctx.Value(credentialKey{}).(credential)
	return c
}

// RequireToken lets a request through only with the API token, as an
// "Authorization: Bearer <token>" header or as the password of HTTP basic
// auth (any user name), so a browser can log in to the dashboards. Anything
// else gets 401 with a Basic challenge. The handler's request context
// records which of the two was used.
func RequireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := tokenCredential(r, want); token != "" && c != credentialNone {
			ctx := context.WithValue(r.Context(), credentialKey{}, c)
			ctx = auth.WithPrincipal(ctx, auth.Principal{Name: "bootstrap", Role: auth.RoleOperator, Via: "bootstrap"})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="tenantfleet", charset="UTF-8"`)
		WriteError(w, http.StatusUnauthorized, "missing or invalid API token")
	})
}

// tokenCredential compares the request's bearer token, or else its basic
// auth password, with want in constant time.
func tokenCredential(r *http.Request, want []byte) credential {
	var (
		got  string
		kind credential
	)
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		got, kind = strings.TrimPrefix(h, "Bearer "), credentialBearer
	} else if _, pass, ok := r.BasicAuth(); ok {
		got, kind = pass, credentialBasic
	} else {
		return credentialNone
	}
	if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
		return credentialNone
	}
	return kind
}
