package restapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Auditor appends to the audit log (*controlplane.Store).
type Auditor interface {
	RecordAudit(ctx context.Context, e controlplane.AuditEntry) error
}

// actor names who made the request, for the audit log and the records
// (requested_by, acked_by): the authenticated principal that infra/httpapi
// put in the context ("user:alice", "token:ci", "bootstrap"), followed,
// when the request names someone else (the body's by or X-Requested-By),
// by that name in parentheses: "token:ci (alice)". The claimed name alone
// never decides: it is what a script says it acts for. Without a principal
// (the API served outside httpapi), the claimed name, else "api".
func actor(r *http.Request, claimed string) string {
	if claimed == "" {
		claimed = r.Header.Get(HeaderRequestedBy)
	}
	p, ok := auth.PrincipalFrom(r.Context())
	switch {
	case !ok && claimed != "":
		return claimed
	case !ok:
		return "api"
	case claimed == "" || claimed == p.Actor() || claimed == p.Name:
		return p.Actor()
	default:
		return p.Actor() + " (" + claimed + ")"
	}
}

// audit records an action that its agent does not audit itself (alerts
// acknowledged and silenced, migration runs started and retried,
// recommendations applied), after it succeeded. It is a second write, not
// in the action's transaction: a failure is logged, the action stands.
func (a *API) audit(r *http.Request, e controlplane.AuditEntry) {
	if a.cfg.Audit == nil {
		return
	}
	if e.Outcome == "" {
		e.Outcome = "done"
	}
	if err := a.cfg.Audit.RecordAudit(r.Context(), e); err != nil {
		a.log.ErrorContext(r.Context(), "audit entry not recorded", slog.String("action", e.Action),
			slog.String("actor", e.Actor), slog.Any("error", err))
	}
}

// intakeSource is where an onboarding request came from: the CLI when it
// serves its own commands in-process, the API otherwise.
func intakeSource(r *http.Request) intake.Source {
	if p, ok := auth.PrincipalFrom(r.Context()); ok && p.Via == "local" {
		return intake.SourceCLI
	}
	return intake.SourceAPI
}
