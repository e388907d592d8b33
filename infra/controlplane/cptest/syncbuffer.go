package cptest

import (
	"bytes"
	"sync"
)

// SyncBuffer is an io.Writer safe for concurrent writers (a logger used by
// servers' goroutines, a command's output) that a test reads while they
// run.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
