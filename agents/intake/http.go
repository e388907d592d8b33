package intake

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Routes mounted by Register.
const (
	RouteJira    = "POST /webhooks/jira"
	RouteTickets = "POST /webhooks/tickets"
	RouteSubmit  = "POST /api/v1/tenants"
	RouteGet     = "GET /api/v1/intake/{id}"
	RouteRetry   = "POST /api/v1/tenants/{id}/retry"
)

// Headers read by the handlers.
const (
	// HeaderHubSignature carries Jira's "sha256=<hex>" body signature.
	HeaderHubSignature = "X-Hub-Signature"
	// HeaderJiraDelivery identifies one Jira webhook delivery; retries
	// repeat it.
	HeaderJiraDelivery = "X-Atlassian-Webhook-Identifier"
	// HeaderRequestedBy names the person behind an API request.
	HeaderRequestedBy = "X-Requested-By"
	// HeaderIdempotencyKey makes API retries collapse into one request.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Register mounts the intake routes on srv: the two webhooks as open routes
// (they verify their own signatures) and the API behind the token.
func (in *Intake) Register(srv *httpapi.Server) {
	srv.Handle(RouteJira, http.HandlerFunc(in.serveJira))
	srv.Handle(RouteTickets, http.HandlerFunc(in.serveTicket))
	srv.HandleAPI(RouteSubmit, http.HandlerFunc(in.serveSubmit))
	srv.HandleAPI(RouteGet, http.HandlerFunc(in.serveGet))
	srv.HandleAPI(RouteRetry, http.HandlerFunc(in.serveRetry))
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

// serveSubmit takes an onboarding request from a person.
func (in *Intake) serveSubmit(w http.ResponseWriter, r *http.Request) {
	body, ok := in.readBody(w, r, SourceAPI)
	if !ok {
		return
	}
	req, err := parseAPI(body)
	if err != nil {
		in.reject(w, r, SourceAPI, err)
		return
	}
	req.RequestedBy = r.Header.Get(HeaderRequestedBy)
	req.DeliveryID = r.Header.Get(HeaderIdempotencyKey)
	in.submit(w, r, req)
}

// serveGet answers a stored request, for callers that wait on it.
func (in *Intake) serveGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "request id must be a positive integer")
		return
	}
	rec, err := in.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no such request")
	case err != nil:
		in.log.ErrorContext(r.Context(), "intake: get request failed", slog.Int64("request_id", id), slog.Any("error", err))
		httpapi.WriteError(w, http.StatusInternalServerError, "internal error")
	default:
		httpapi.WriteJSON(w, http.StatusOK, rec)
	}
}

// serveRetry sends a failed tenant's onboarding round again: 202 with the
// new task id, 404 for an unknown tenant, 409 when it is not failed. The
// body, if any, must be an empty JSON object.
func (in *Intake) serveRetry(w http.ResponseWriter, r *http.Request) {
	body, ok := in.readBody(w, r, SourceAPI)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &struct{}{}, true); err != nil {
			in.reject(w, r, SourceAPI, err)
			return
		}
	}
	acc, err := in.Retry(r.Context(), r.PathValue("id"), r.Header.Get(HeaderRequestedBy))
	var notRetryable *NotRetryableError
	switch {
	case errors.Is(err, ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no such tenant")
	case errors.As(err, &notRetryable):
		answer := map[string]any{"error": notRetryable.Error(), "tenant_id": notRetryable.TenantID}
		if rec := notRetryable.Request; rec != nil {
			answer["request_id"], answer["task_id"], answer["status"] = rec.ID, TaskID(*rec), rec.Status
		}
		httpapi.WriteJSON(w, http.StatusConflict, answer)
	case err != nil:
		in.reject(w, r, SourceAPI, err)
	default:
		httpapi.WriteJSON(w, http.StatusAccepted, acc)
	}
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
	case errors.Is(err, errMalformed):
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
