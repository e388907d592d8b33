package tenants

import "context"

// Priority orders work waiting for a shared pool: Interactive work (the
// default) is admitted before Batch work and may use the connections the
// pool reserves for it.
type Priority uint8

// The priorities.
const (
	// Interactive is user-facing work: a request someone waits for.
	Interactive Priority = iota
	// Batch is background work that can wait: reports, exports, syncs.
	Batch
)

// String returns "interactive" or "batch".
func (p Priority) String() string {
	if p == Batch {
		return "batch"
	}
	return "interactive"
}

type priorityKey struct{}

// WithPriority returns a context whose tenant work is admitted with
// priority p.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority set by WithPriority, or Interactive.
func PriorityFrom(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}
