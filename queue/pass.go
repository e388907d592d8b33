package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// Pass is a periodic maintenance pass run as a task, such as an outbox
// reconciler: the scheduler enqueues one task per slot (so twin schedulers
// enqueue it once), and whichever worker takes it runs the pass. A pass is
// never retried: the next slot runs it again.
type Pass struct {
	// Entry names the scheduler entry, e.g. "outbox-reconcile".
	Entry string
	// Type is the task type, e.g. TypeOutboxReconcile.
	Type string
	// Queue is the queue of the task.
	Queue string
	// Every is the period; a pass also times out after it.
	Every time.Duration
	// Run does one pass and reports how much it did (logged when above 0).
	Run func(ctx context.Context) (int, error)
	// Did is the log message for a pass that did something, e.g. "outbox
	// reconciled".
	Did string
}

// Schedule adds the pass to s.
func (p Pass) Schedule(s *Scheduler) error {
	err := s.Enqueue("@every "+p.Every.String(), p.Entry, func(time.Time) (*asynq.Task, []asynq.Option, error) {
		return asynq.NewTask(p.Type, nil), []asynq.Option{asynq.Queue(p.Queue), asynq.MaxRetry(0), asynq.Timeout(p.Every)}, nil
	})
	if err != nil {
		return fmt.Errorf("queue: schedule %s: %w", p.Entry, err)
	}
	return nil
}

// Register registers the pass's handler on w.
func (p Pass) Register(w *Worker) {
	w.HandleFunc(p.Type, func(ctx context.Context, _ *asynq.Task) error {
		n, err := p.Run(ctx)
		if n > 0 {
			Logger(ctx).InfoContext(ctx, p.Did, slog.Int("re_enqueued", n))
		}
		return err
	})
}
