package queue

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask("x:y", nil)
	if got := retryDelay(3, fmt.Errorf("wrapped: %w", asynq.ErrLeaseExpired), task); got != LeaseExpiredRetryDelay {
		t.Errorf("lease expired: delay %s, want %s", got, LeaseExpiredRetryDelay)
	}
	if !isFailure(asynq.ErrLeaseExpired) {
		t.Error("a lease-expired task does not count against its retries: a task that kills its worker would loop forever")
	}
	if got := retryDelay(3, NotReady(7*time.Second, errors.New("waiting")), task); got != 7*time.Second {
		t.Errorf("not ready: delay %s, want 7s", got)
	}
	// Anything else backs off as Asynq does: at least n^4 seconds.
	if got := retryDelay(3, errors.New("boom"), task); got < 81*time.Second {
		t.Errorf("a failure: delay %s, want Asynq's backoff (>= 81s for the third retry)", got)
	}
}
