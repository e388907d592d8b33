package restapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// HeaderRequestID carries the request id: taken from the request when it
// is a plain token (a proxy's id), made up otherwise, and always sent back
// in the answer. The log line of a failed request names it.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds a request id taken from the request.
const maxRequestIDLen = 64

type requestIDKey struct{}

// withRequestID gives every request an id (see HeaderRequestID) in its
// context and in the answer's header.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !plainToken(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// requestIDFrom returns the request id withRequestID stored in ctx.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// plainToken reports whether s is 1 to maxRequestIDLen characters of
// [A-Za-z0-9._-]: safe to log and echo.
func plainToken(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
