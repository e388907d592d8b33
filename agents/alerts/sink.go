package alerts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Event is what a notification tells a sink.
type Event string

// Events. Refresh re-sends a firing alert to sinks that forget alerts
// unless reminded (Alertmanager's endsAt).
const (
	EventTrigger     Event = "trigger"
	EventRepeat      Event = "repeat"
	EventAcknowledge Event = "acknowledge"
	EventResolve     Event = "resolve"
	EventRefresh     Event = "refresh"
)

// Notification is one event of one alert for one sink.
type Notification struct {
	// ID is the outbox id, the same on every retry: sinks use it as an
	// idempotency key (the webhook-id header).
	ID int64
	// Event is what happened.
	Event Event
	// Alert is the alert as it is when the notification is delivered.
	Alert Alert
	// Fleet is the fleet's name (FLEET_NAME).
	Fleet string
	// CreatedAt is when the event happened.
	CreatedAt time.Time
}

// Sink delivers notifications to one service.
type Sink interface {
	// Name identifies the sink in the outbox: stable across restarts.
	Name() string
	// Handles reports whether the sink wants events of this kind.
	Handles(e Event) bool
	// Send delivers n. An error wrapping ErrPermanent is not retried; a
	// *RateLimitedError defers the whole sink; anything else is retried
	// with backoff.
	Send(ctx context.Context, n Notification) error
}

// Refresher is a Sink that must be sent its firing alerts again every
// RefreshEvery (Alertmanager resolves an alert whose endsAt passes).
type Refresher interface {
	RefreshEvery() time.Duration
}

// Paced is a Sink whose service accepts at most one request per
// MinInterval (Slack: one message a second per webhook); the deliverer
// waits between requests.
type Paced interface {
	MinInterval() time.Duration
}

// ErrPermanent marks a delivery the service refused for good (a bad
// payload, a revoked URL): retrying would not help.
var ErrPermanent = errors.New("alerts: permanent delivery failure")

// RateLimitedError is a delivery the service refused for now (429): the
// sink is held for RetryAfter.
type RateLimitedError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}

func (e *RateLimitedError) Unwrap() error { return e.Err }
