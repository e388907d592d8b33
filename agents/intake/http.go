package intake

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Routes mounted by RegisterWebhooks. The onboarding routes of /api/v1
// are infra/restapi's.
const (
	RouteJira    = "POST /webhooks/jira"
	RouteTickets = "POST /webhooks/tickets"
)

// Headers read by the handlers.
const (
	// HeaderHubSignature carries Jira's "sha256=<hex>" body signature.
	HeaderHubSignature = "X-Hub-Signature"
	// HeaderJiraDelivery identifies one Jira webhook delivery; retries
	// repeat it.
	HeaderJiraDelivery = "X-Atlassian-Webhook-Identifier"
)

// RegisterWebhooks mounts the two webhooks on srv as open routes: they
// verify their own signatures.
func (in *Intake) RegisterWebhooks(srv *httpapi.Server) {
	srv.Handle(RouteJira, http.HandlerFunc(in.serveJira))
	srv.Handle(RouteTickets, http.HandlerFunc(in.serveTicket))
}

// serveJira takes a Jira Cloud issue webhook. The signature is checked on
// the raw body before anything parses it.
func (in *Intake) serveJira(w http.ResponseWriter, r *http.Request) {
	body, ok := in.readBody(w, r, SourceJira)
	if !ok {
		return
	}
	if err := verifyHubSignature(in.cfg.JiraSecret, r.Header.Get(HeaderHubSignature), body); err != nil {
		in.reject(w, r, SourceJira, err)
		return
	}
	req, ignored, err := parseJira(body, in.cfg.Jira)
	var refused *jiraNotAllowedError
	if errors.As(err, &refused) {
		// 200: Jira retries any other answer. Nothing is stored.
		in.log.WarnContext(r.Context(), "jira onboarding refused: not on the allowlist",
			slog.String("reason", refused.why), slog.String("project", truncate(refused.project, 40)),
			slog.String("issue_type", truncate(refused.issueType, 40)), slog.String("issue", truncate(refused.issueKey, 40)),
			slog.String("delivery", truncate(r.Header.Get(HeaderJiraDelivery), 80)), slog.String("remote", r.RemoteAddr))
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"ignored": true, "reason": refused.why})
		return
	}
	if err != nil {
		in.reject(w, r, SourceJira, err)
		return
	}
	if ignored != "" {
		in.log.DebugContext(r.Context(), "jira webhook ignored", slog.String("reason", ignored))
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"ignored": true, "reason": ignored})
		return
	}
	req.DeliveryID = r.Header.Get(HeaderJiraDelivery)
	in.submit(w, r, req)
}

// serveTicket takes a generic ticket webhook signed the Standard Webhooks
// way.
func (in *Intake) serveTicket(w http.ResponseWriter, r *http.Request) {
	body, ok := in.readBody(w, r, SourceTicket)
	if !ok {
		return
	}
	id := r.Header.Get(headerWebhookID)
	err := verifyStandard(in.ticketKey, id, r.Header.Get(headerWebhookTimestamp),
		r.Header.Get(headerWebhookSignature), body, in.cfg.Now(), in.cfg.ReplayWindow)
	if err != nil {
		in.reject(w, r, SourceTicket, err)
		return
	}
	req, err := parseTicket(body)
	if err != nil {
		in.reject(w, r, SourceTicket, err)
		return
	}
	req.DeliveryID = id
	in.submit(w, r, req)
}

// submit stores and enqueues a parsed request and answers 202.
func (in *Intake) submit(w http.ResponseWriter, r *http.Request, req Request) {
	acc, err := in.Submit(r.Context(), req)
	if err != nil {
		in.reject(w, r, req.Source, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, acc)
}

// readBody reads the raw body, bounded by MaxBodyBytes; over it, it answers
// 413 and reports false.
func (in *Intake) readBody(w http.ResponseWriter, r *http.Request, src Source) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			in.logReject(r, src, http.StatusRequestEntityTooLarge, "body too large")
			httpapi.WriteError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(in.cfg.MaxBodyBytes, 10)+" bytes")
			return nil, false
		}
		in.logReject(r, src, http.StatusBadRequest, "unreadable body")
		httpapi.WriteError(w, http.StatusBadRequest, "unreadable body")
		return nil, false
	}
	return body, true
}

// reject answers a failed request with the status its error maps to.
func (in *Intake) reject(w http.ResponseWriter, r *http.Request, src Source, err error) {
	var inv *InvalidRequestError
	switch {
	case errors.Is(err, ErrBadSignature):
		in.logReject(r, src, http.StatusUnauthorized, err.Error())
		httpapi.WriteError(w, http.StatusUnauthorized, ErrBadSignature.Error())
	case errors.Is(err, ErrMalformed):
		in.logReject(r, src, http.StatusBadRequest, err.Error())
		httpapi.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &inv):
		in.logReject(r, src, http.StatusUnprocessableEntity, inv.Error())
		httpapi.WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{
			"error": inv.Error(), "field": inv.Field, "reason": inv.Reason,
		})
	default:
		in.log.ErrorContext(r.Context(), "intake failed", slog.String("source", string(src)), slog.Any("error", err))
		httpapi.WriteError(w, http.StatusInternalServerError, "internal error")
	}
}

// logReject logs a refused request: never its body, headers or signature.
func (in *Intake) logReject(r *http.Request, src Source, status int, reason string) {
	in.log.WarnContext(r.Context(), "intake request refused",
		slog.String("source", string(src)), slog.Int("status", status),
		slog.String("reason", reason), slog.String("remote", r.RemoteAddr))
}
