package queue

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// Payload is a task payload that can check itself.
type Payload interface {
	// Validate reports a payload that must not be processed.
	Validate() error
}

// ErrBadPayload marks a task whose payload cannot be decoded or is invalid.
// Such a task is not retried.
var ErrBadPayload = errors.New("bad task payload")

// NewTask encodes a validated payload as a task of the given type.
func NewTask(typ string, p Payload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %s: %w: %w", typ, ErrBadPayload, err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: %s: encode payload: %w", typ, err)
	}
	return asynq.NewTask(typ, raw, opts...), nil
}

// Decode decodes and validates a task's payload. A bad payload is wrapped
// with asynq.SkipRetry so the task goes straight to the archive.
func Decode[T Payload](t *asynq.Task) (T, error) {
	var p T
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("queue: %s: %w: %w: %w", t.Type(), ErrBadPayload, err, asynq.SkipRetry)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("queue: %s: %w: %w: %w", t.Type(), ErrBadPayload, err, asynq.SkipRetry)
	}
	return p, nil
}
