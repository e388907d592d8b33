package tenants

import (
	"errors"
	"fmt"
	"time"
)

// ErrPoolExhausted means no connection of a pool could be granted within
// the acquire deadline. The concrete error is a *PoolExhaustedError.
var ErrPoolExhausted = errors.New("tenants: pool exhausted")

// PoolExhaustedError reports a tenant that waited the whole acquire
// deadline for a connection. It matches ErrPoolExhausted with errors.Is.
type PoolExhaustedError struct {
	// Pool is the pool's key ("instance:<id>" or "tenant:<id>").
	Pool string
	// TenantID is the tenant that waited.
	TenantID string
	// Waited is how long it waited.
	Waited time.Duration
	// RetryAfter is a hint of when a retry may succeed, estimated from how
	// long connections are held and how many requests wait.
	RetryAfter time.Duration
}

func (e *PoolExhaustedError) Error() string {
	return fmt.Sprintf("tenants: pool %s exhausted: tenant %s waited %s, retry after %s",
		e.Pool, e.TenantID, e.Waited.Round(time.Millisecond), e.RetryAfter.Round(time.Millisecond))
}

// Is reports whether target is ErrPoolExhausted.
func (e *PoolExhaustedError) Is(target error) bool { return target == ErrPoolExhausted }
