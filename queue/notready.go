package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// NotReadyError asks the worker to run the task again after Delay without
// counting a failure: the task is waiting for something that will happen
// (an instance being created, a semaphore slot), so it keeps its retry
// budget for real errors. The handler must make sure the wait ends.
type NotReadyError struct {
	// Delay is how long to wait before the next run.
	Delay time.Duration
	// Err says what the task waits for.
	Err error
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("not ready, again in %s: %v", e.Delay, e.Err)
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// NotReady returns a *NotReadyError: run the task again after delay, not a
// failure.
func NotReady(delay time.Duration, err error) error {
	return &NotReadyError{Delay: delay, Err: err}
}

// isFailure is the worker's asynq IsFailure: a NotReadyError is not a
// failure, so Asynq does not count it against the task's retries.
func isFailure(err error) bool {
	var nr *NotReadyError
	return err != nil && !errors.As(err, &nr)
}

// LeaseExpiredRetryDelay is how soon a task whose worker died (Asynq's
// recoverer found its lease expired, a minute or two after the death) runs
// again. The task did not fail on its own: backing off further would only
// add to the time the death already cost. It still counts against the
// task's retries, so a task that kills every worker it runs on ends
// archived rather than looping.
const LeaseExpiredRetryDelay = time.Second

// retryDelay is the worker's asynq RetryDelayFunc: a NotReadyError's own
// delay, LeaseExpiredRetryDelay for a task recovered from a dead worker,
// else Asynq's exponential backoff.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	var nr *NotReadyError
	switch {
	case errors.As(err, &nr):
		return nr.Delay
	case errors.Is(err, asynq.ErrLeaseExpired):
		return LeaseExpiredRetryDelay
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}
