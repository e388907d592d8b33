package provider

import "errors"

// Sentinel errors. Adapters translate their vendor's errors to these at the
// boundary (wrapped with %w, so the vendor error's text is kept), and callers
// test them with errors.Is.
var (
	// ErrNotFound reports that the instance does not exist.
	ErrNotFound = errors.New("provider: instance not found")

	// ErrAlreadyExists reports that an instance with the same identifier
	// exists. Create and CreateReadReplica absorb it (they return the
	// existing instance); it surfaces only where idempotency cannot apply.
	ErrAlreadyExists = errors.New("provider: instance already exists")

	// ErrUnsupported reports an operation the provider cannot perform, such
	// as a read replica on a local provider with no standby configured.
	ErrUnsupported = errors.New("provider: operation not supported")

	// ErrInvalid reports a request the provider or its backend rejected as
	// malformed (a bad spec, an invalid parameter or state). Retrying the
	// same request will not help.
	ErrInvalid = errors.New("provider: invalid request")

	// ErrQuota reports that an account or service limit was reached
	// (instance count, storage). It is retryable: the limit may be raised or
	// capacity freed, but not within seconds.
	ErrQuota = errors.New("provider: quota exceeded")

	// ErrThrottled reports that the backend rate-limited the request. It is
	// retryable after a backoff.
	ErrThrottled = errors.New("provider: request throttled")

	// ErrUnavailable reports a transient backend failure (a 5xx, a
	// connection refused). It is retryable.
	ErrUnavailable = errors.New("provider: backend unavailable")
)

// Retryable reports whether err is worth retrying later with the same
// arguments: throttling, quota and transient backend failures are; not
// found, invalid and unsupported are not. Errors the provider did not
// classify are reported as not retryable.
func Retryable(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrQuota) || errors.Is(err, ErrUnavailable)
}
