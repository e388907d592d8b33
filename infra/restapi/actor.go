package restapi

import (
	"net/http"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// actor names who a request acts for, for the audit log: the
// auth.Principal the front put in its context ("local:NAME" for the CLI
// in-process), else the X-Requested-By header, else "".
func actor(r *http.Request) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok && p.Name != "" {
		return p.Actor()
	}
	return r.Header.Get(HeaderRequestedBy)
}

// requestedBy is actor with a body's "by" between the principal and the
// header, and "api" when nothing names anyone.
func requestedBy(r *http.Request, by string) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok && p.Name != "" {
		return p.Actor()
	}
	if by != "" {
		return by
	}
	if h := r.Header.Get(HeaderRequestedBy); h != "" {
		return h
	}
	return "api"
}

// intakeSource is where an onboarding request came from: the CLI when it
// serves its own commands in-process, the API otherwise.
func intakeSource(r *http.Request) intake.Source {
	if p, ok := auth.PrincipalFrom(r.Context()); ok && p.Via == "local" {
		return intake.SourceCLI
	}
	return intake.SourceAPI
}
