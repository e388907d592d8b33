package intake

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Source says where a request came from.
type Source = controlplane.IntakeSource

// The sources of the intake_requests table.
const (
	SourceJira   = controlplane.IntakeSourceJira
	SourceTicket = controlplane.IntakeSourceTicket
	SourceAPI    = controlplane.IntakeSourceAPI
	SourceCLI    = controlplane.IntakeSourceCLI
)

// Limits on the free-text fields of a request, in characters (runes).
const (
	// MaxNameLen bounds a tenant's display name (tenants.MaxNameLen).
	MaxNameLen = tenants.MaxNameLen
	// MaxKeyLen bounds a delivery id, a ticket key and requested_by.
	MaxKeyLen = 200
)

// Request asks for one tenant to be onboarded.
type Request struct {
	// Source is where the request came from. Default SourceAPI.
	Source Source
	// DeliveryID identifies one delivery of a message (a webhook id, an
	// API Idempotency-Key): the same DeliveryID from the same source is
	// the same request. Optional.
	DeliveryID string
	// TicketKey is the ticket behind the request (a Jira issue key, a
	// ticket id): a ticket onboards once per source, however often it is
	// sent or updated. Optional.
	TicketKey string
	// TenantID is the tenant to create; a slug checked by
	// tenants.ValidateID. Required.
	TenantID string
	// Name is the tenant's display name. Default: TenantID.
	Name string
	// Tier places the tenant. Default tenants.Shared.
	Tier tenants.Tier
	// Isolation is the tenant's isolation level (tenants.Pooled or
	// tenants.Strict). Default tenants.Pooled.
	Isolation tenants.Isolation
	// RequestedBy names who asked, for the audit log. Default: the source.
	RequestedBy string
	// Restore asks, for a tenant that was offboarded with its schema
	// archived, that the newest archive be restored instead of a fresh
	// schema created. A request to restore a tenant that has no archive
	// fails.
	Restore bool
}

// ErrInvalidRequest marks a request rejected before anything was stored.
// The concrete error is an *InvalidRequestError.
var ErrInvalidRequest = errors.New("invalid onboarding request")

// InvalidRequestError names the field of a rejected request and why. It
// matches ErrInvalidRequest with errors.Is and unwraps to the cause (for a
// tenant id, a *tenants.InvalidIDError).
type InvalidRequestError struct {
	// Field is the request field at fault, as named in JSON ("tenant_id").
	Field string
	// Reason says what is wrong, fit to show to the requester.
	Reason string
	// Err is the underlying validation error, if any.
	Err error
}

func (e *InvalidRequestError) Error() string {
	return fmt.Sprintf("intake: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidRequest.
func (e *InvalidRequestError) Is(target error) bool { return target == ErrInvalidRequest }

// Unwrap returns the underlying validation error.
func (e *InvalidRequestError) Unwrap() error { return e.Err }

func invalid(field, reason string) error {
	return &InvalidRequestError{Field: field, Reason: reason}
}

// normalize fills the defaults of r and validates it. It runs before any
// SQL: a request it rejects touches nothing.
func (r Request) normalize() (Request, error) {
	r.Source = cmp.Or(r.Source, SourceAPI)
	if !r.Source.Valid() {
		return r, invalid("source", fmt.Sprintf("unknown source %.40q", string(r.Source)))
	}
	if err := tenants.ValidateID(r.TenantID); err != nil {
		reason := err.Error()
		var idErr *tenants.InvalidIDError
		if errors.As(err, &idErr) {
			reason = strings.TrimPrefix(reason, "tenants: ")
		}
		return r, &InvalidRequestError{Field: "tenant_id", Reason: reason, Err: err}
	}
	r.Tier = cmp.Or(r.Tier, tenants.Shared)
	if !r.Tier.Valid() {
		return r, invalid("tier", fmt.Sprintf("must be %q or %q, got %.40q", tenants.Shared, tenants.Dedicated, string(r.Tier)))
	}
	r.Isolation = cmp.Or(r.Isolation, tenants.Pooled)
	if !r.Isolation.Valid() {
		return r, invalid("isolation", fmt.Sprintf("must be %q or %q, got %.40q", tenants.Pooled, tenants.Strict, string(r.Isolation)))
	}
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		r.Name = r.TenantID
	}
	if err := checkText("name", r.Name, MaxNameLen); err != nil {
		return r, err
	}
	r.RequestedBy = cmp.Or(strings.TrimSpace(r.RequestedBy), string(r.Source))
	for _, f := range []struct{ field, v string }{
		{"delivery_id", r.DeliveryID},
		{"ticket_id", r.TicketKey},
		{"requested_by", r.RequestedBy},
	} {
		if err := checkText(f.field, f.v, MaxKeyLen); err != nil {
			return r, err
		}
	}
	return r, nil
}

// checkText accepts valid UTF-8 of at most max runes without control,
// invisible formatting (bidi, zero-width) or separator characters
// (tenants.ValidateText).
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return invalid(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalid(field, fmt.Sprintf("must be at most %d characters, got %d", max, n))
	}
	if err := tenants.ValidateText(v); err != nil {
		return &InvalidRequestError{Field: field, Reason: strings.TrimPrefix(err.Error(), "tenants: "), Err: err}
	}
	return nil
}
