package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
)

// originGuard refuses state-changing requests that a browser was made to
// send from another site with credentials it attaches on its own (the CSRF
// of the security review: a page elsewhere POSTs to Asynqmon's pause with
// the operator's basic-auth login). It is the one place where browser
// writes are checked; every route behind the token goes through it.
type originGuard struct {
	check *http.CrossOriginProtection
	log   *slog.Logger
}

// newOriginGuard builds the guard. trusted are origins
// ("scheme://host[:port]") accepted besides the request's own Host, such as
// the public origin of a proxy that rewrites Host.
func newOriginGuard(trusted []string, log *slog.Logger) (*originGuard, error) {
	check := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := check.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpapi: trusted origin %q: %w", o, err)
		}
	}
	return &originGuard{check: check, log: log}, nil
}

// wrap applies the rule to next, which must sit behind RequireToken:
//
//   - GET, HEAD and OPTIONS pass (they must not change state; none of ours
//     or Asynqmon's do).
//   - A request authenticated with a bearer token passes: browsers never
//     attach an Authorization: Bearer header by themselves.
//   - Any other write (basic auth today) must be same-origin: a
//     Sec-Fetch-Site of same-origin or none, or, from a browser too old to
//     send Sec-Fetch-Site, an Origin whose host is the request's Host or a
//     trusted origin. Requests with neither header are not from a browser
//     and pass. Everything else is 403.
//
// net/http's CrossOriginProtection implements the header checks.
func (g *originGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if credentialFrom(r.Context()) == credentialBearer {
			next.ServeHTTP(w, r)
			return
		}
		if err := g.check.Check(r); err != nil {
			g.log.WarnContext(r.Context(), "cross-origin write refused",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")),
				slog.String("origin", r.Header.Get("Origin")), slog.String("remote", r.RemoteAddr))
			WriteError(w, http.StatusForbidden,
				"cross-origin write refused: send it from the fleet's own pages or with Authorization: Bearer")
			return
		}
		// The dashboard's session cookie (to come) passes the same origin
		// check above and then must also carry the CSRF token bound to its
		// session: here, for a request whose credential is the session
		// cookie and whose method is not GET, HEAD or OPTIONS, compare the
		// token of the X-CSRF-Token header (or form field) with the
		// session's in constant time and answer 403 when it differs. Basic
		// auth has no session to bind a token to; the origin check is its
		// whole defence.
		next.ServeHTTP(w, r)
	})
}
