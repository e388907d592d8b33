// Package eventually waits in tests for a condition that another goroutine
// or process makes true, polling it with a deadline instead of sleeping a
// guessed time. It is for tests only (it imports testing).
package eventually

import (
	"testing"
	"time"
)

// pollInterval is how often a condition is evaluated.
const pollInterval = 10 * time.Millisecond

// True polls cond until it holds, failing t (t.Fatalf) with what if it
// does not within the given time. cond runs on the caller's goroutine.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pollInterval)
	}
}
