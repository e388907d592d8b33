// Package loadfake is a load.Source for tests: Static answers the readings
// the test sets, so a test can drive the migration runner's throttle
// without a busy server. It is for tests only.
package loadfake

import (
	"context"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/load"
)

// Static is a Source whose readings the test sets. It is safe for
// concurrent use, so a test can raise the CPU while a runner is reading.
type Static struct {
	mu       sync.Mutex
	def      load.Reading
	byID     map[string]load.Reading
	err      error
	calls    int
	now      func() time.Time
	changeCh chan struct{}
}

var _ load.Source = (*Static)(nil)

// NewStatic returns a Static source answering r for every target.
func NewStatic(r load.Reading) *Static {
	return &Static{def: r, byID: map[string]load.Reading{}, now: time.Now, changeCh: make(chan struct{})}
}

// Set replaces the reading answered for every target without one of its
// own.
func (s *Static) Set(r load.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = r
}

// SetFor sets the reading answered for the target with ID id.
func (s *Static) SetFor(id string, r load.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[id] = r
}

// SetErr makes Load fail with err until SetErr(nil).
func (s *Static) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Calls reports how many times Load was called.
func (s *Static) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Called returns a channel closed at the next call of Load, so a test can
// wait for the runner to read without sleeping.
func (s *Static) Called() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeCh
}

// Load returns the reading set for target.ID, else the default one; a
// reading with a zero At is stamped with the current time.
func (s *Static) Load(ctx context.Context, target load.Target) (load.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	close(s.changeCh)
	s.changeCh = make(chan struct{})
	if err := ctx.Err(); err != nil {
		return load.Reading{}, err
	}
	if s.err != nil {
		return load.Reading{}, s.err
	}
	r, ok := s.byID[target.ID]
	if !ok {
		r = s.def
	}
	if r.At.IsZero() {
		r.At = s.now()
	}
	return r, nil
}
