package eventually_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

// recorder is a testing.TB whose Fatalf records the message and stops the
// caller the way testing.T does (by leaving its goroutine).
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(r)
}

// run calls fn with r and recovers the Fatalf stop.
func (r *recorder) run(fn func(testing.TB)) {
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	fn(r)
}

func TestTrueReturnsOnceAnotherGoroutineMakesCondHold(t *testing.T) {
	t.Parallel()
	var done atomic.Bool
	go func() {
		time.Sleep(30 * time.Millisecond)
		done.Store(true)
	}()
	var calls int
	r := &recorder{TB: t}
	r.run(func(tb testing.TB) {
		eventually.True(tb, time.Minute, "done", func() bool { calls++; return done.Load() })
	})
	if r.fatal != "" || !done.Load() {
		t.Fatalf("got fatal %q, done %v; want a return once done", r.fatal, done.Load())
	}
	if calls < 2 {
		t.Errorf("cond evaluated %d times; want it polled until it held", calls)
	}
}

func TestTrueFailsNamingWhatAndTheTimeout(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	returned := false
	r.run(func(tb testing.TB) {
		eventually.True(tb, 50*time.Millisecond, "the moon", func() bool { return false })
		returned = true
	})
	if returned {
		t.Fatal("True returned although cond never held")
	}
	if !strings.Contains(r.fatal, "the moon") || !strings.Contains(r.fatal, "50ms") {
		t.Errorf("fatal = %q; want it to name what and the timeout", r.fatal)
	}
}

func TestTrueChecksBeforeWaiting(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	r.run(func(tb testing.TB) {
		eventually.True(tb, 0, "already true", func() bool { calls++; return true })
	})
	if r.fatal != "" || calls != 1 {
		t.Errorf("got fatal %q after %d calls; want a return after one call", r.fatal, calls)
	}
}
