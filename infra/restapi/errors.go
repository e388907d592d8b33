package restapi

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// errBadRequest marks input the API itself refuses before calling an agent
// (a path id that is not a positive integer, an unknown list filter, a
// duration that does not parse): 400.
var errBadRequest = errors.New("bad request")

// internalMessage is all a client learns of a 500: the cause goes to the
// log under the request id, never into the answer (driver errors name
// hosts, users and databases).
const internalMessage = "internal error"

// unavailableMessage answers a 503.
const unavailableMessage = "service unavailable, retry later"

// errorStatus is the API's one mapping from an error to its HTTP status.
// Agents' sentinels and typed errors are matched with errors.Is / As, so
// wrapping keeps the status.
func errorStatus(err error) int {
	var (
		tooLarge     *http.MaxBytesError
		invalid      *intake.InvalidRequestError
		notRetryable *intake.NotRetryableError
		exhausted    *tenants.PoolExhaustedError
		connect      *pgconn.ConnectError
	)
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, tenants.ErrTenantNotFound), errors.Is(err, intake.ErrNotFound),
		errors.Is(err, offboard.ErrNotFound), errors.Is(err, migrate.ErrRunNotFound),
		errors.Is(err, controlplane.ErrAlertNotFound), errors.Is(err, controlplane.ErrNoCostReport),
		errors.Is(err, controlplane.ErrRecommendationNotFound), errors.Is(err, controlplane.ErrOperatorNotFound):
		return http.StatusNotFound
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errBadRequest), errors.Is(err, httpapi.ErrMalformedJSON), errors.Is(err, intake.ErrMalformed):
		return http.StatusBadRequest
	case errors.As(err, &invalid), errors.Is(err, intake.ErrInvalidRequest), errors.Is(err, tenants.ErrInvalidID),
		errors.Is(err, offboard.ErrInvalidRequest), errors.Is(err, migrate.ErrInvalidSpec),
		errors.Is(err, migrate.ErrNoTenants), errors.Is(err, migrate.ErrIdempotencyKeyReused),
		errors.Is(err, alerts.ErrInvalid), errors.Is(err, cost.ErrNotApplicable), errors.Is(err, tenants.ErrInvalidIsolation),
		errors.Is(err, cost.ErrInvalidRequest), errors.Is(err, operators.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.As(err, &notRetryable), errors.Is(err, offboard.ErrConflict), errors.Is(err, migrate.ErrRunNotFinished),
		errors.Is(err, controlplane.ErrRecommendationNotOpen), errors.Is(err, controlplane.ErrRecommendationApplying),
		errors.Is(err, tenants.ErrTenantNotActive), errors.Is(err, controlplane.ErrOperatorExists):
		return http.StatusConflict
	case errors.As(err, &exhausted), errors.As(err, &connect):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// publicError gives an error a message fit for the client while keeping
// the cause for errorStatus and the log.
type publicError struct {
	msg string
	err error
}

func (e *publicError) Error() string { return e.msg }
func (e *publicError) Unwrap() error { return e.err }

// describe returns err with msg as its client-facing message.
func describe(err error, msg string) error { return &publicError{msg: msg, err: err} }

// badRequest is a 400 with msg.
func badRequest(msg string) error { return describe(errBadRequest, msg) }

// writeError answers err with its status (errorStatus) and body. A 4xx
// says what was wrong; a 5xx says only "internal error" (or "retry later"
// for a 503, with Retry-After) and logs the cause with the request id,
// which the answer carries in X-Request-Id.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	if status >= http.StatusInternalServerError {
		a.logFailure(r, status, err)
	}
	httpapi.WriteJSON(w, status, errorBody(w, status, err))
}

// logFailure logs a request the API could not serve: at Error for a 500,
// Warn for a 503 (the caller may retry).
func (a *API) logFailure(r *http.Request, status int, err error) {
	level := slog.LevelError
	if status == http.StatusServiceUnavailable {
		level = slog.LevelWarn
	}
	a.log.Log(r.Context(), level, "api request failed",
		slog.String("request_id", requestIDFrom(r.Context())), slog.String("method", r.Method),
		slog.String("route", r.Pattern), slog.Int("status", status), slog.Any("error", err))
}

// errorBody is the JSON body of an error answer with status.
func errorBody(w http.ResponseWriter, status int, err error) any {
	var (
		invalid      *intake.InvalidRequestError
		notRetryable *intake.NotRetryableError
		exhausted    *tenants.PoolExhaustedError
	)
	switch {
	case status == http.StatusServiceUnavailable:
		retry := 1
		if errors.As(err, &exhausted) {
			retry = max(1, int(math.Ceil(exhausted.RetryAfter.Seconds())))
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		return ErrorJSON{Error: unavailableMessage}
	case status >= http.StatusInternalServerError:
		return ErrorJSON{Error: internalMessage}
	case errors.As(err, &invalid):
		return InvalidRequestJSON{Error: invalid.Error(), Field: invalid.Field, Reason: invalid.Reason}
	case errors.As(err, &notRetryable):
		body := NotRetryableJSON{Error: notRetryable.Error(), TenantID: notRetryable.TenantID}
		if rec := notRetryable.Request; rec != nil {
			body.RequestID, body.TaskID, body.Status = rec.ID, intake.TaskID(*rec), string(rec.Status)
		}
		return body
	}
	return ErrorJSON{Error: err.Error()}
}
