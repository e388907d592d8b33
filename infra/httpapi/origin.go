package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
)

// originGuard refuses state-changing requests that a browser was made to
// send from another site with credentials it attaches on its own (the CSRF
// of the security review: a page elsewhere POSTs to Asynqmon's pause with
// the operator's basic-auth login or session cookie). Server.guard calls
// it for every write not made with a bearer token; POST /login too.
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

// refuse answers 403 and reports true when r must be refused:
//
//   - GET, HEAD and OPTIONS pass (they must not change state; none of ours
//     or Asynqmon's do).
//   - Any other request must be same-origin: a Sec-Fetch-Site of
//     same-origin or none, or, from a browser too old to send
//     Sec-Fetch-Site, an Origin whose host is the request's Host or a
//     trusted origin. Requests with neither header are not from a browser
//     and pass. Everything else is 403.
//
// net/http's CrossOriginProtection implements the header checks. Requests
// authenticated with a bearer token do not come here: browsers never
// attach an Authorization: Bearer header by themselves.
func (g *originGuard) refuse(w http.ResponseWriter, r *http.Request) bool {
	err := g.check.Check(r)
	if err == nil {
		return false
	}
	g.log.WarnContext(r.Context(), "cross-origin write refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")),
		slog.String("origin", r.Header.Get("Origin")), slog.String("remote", r.RemoteAddr))
	WriteError(w, http.StatusForbidden,
		"cross-origin write refused: send it from the fleet's own pages or with Authorization: Bearer")
	return true
}
