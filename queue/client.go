package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Client enqueues tasks. Enqueues that can repeat carry a deterministic task
// id, and a repeat is reported as a duplicate rather than an error.
type Client struct {
	asynq *asynq.Client
	rdb   redis.UniversalClient
	insp  *asynq.Inspector
}

// NewClient returns a client over an existing Redis connection, which the
// caller keeps ownership of.
func NewClient(rdb redis.UniversalClient) *Client {
	return &Client{asynq: asynq.NewClientFromRedisClient(rdb), rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb)}
}

// Enqueued says what became of an enqueue.
type Enqueued struct {
	// ID is the task id.
	ID string
	// Queue is the queue the task went to.
	Queue string
	// Duplicate is true when a task with the same id already existed, so
	// nothing new was enqueued.
	Duplicate bool
}

// Enqueue puts a task on its queue. A task id conflict (the same
// deterministic id enqueued twice within its retention) is not an error:
// the result says Duplicate.
func (c *Client) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	info, err := c.asynq.EnqueueContext(ctx, task, opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return Enqueued{ID: taskIDOf(opts), Queue: queueOf(opts), Duplicate: true}, nil
	}
	if err != nil {
		return Enqueued{}, fmt.Errorf("queue: enqueue %s: %w", task.Type(), err)
	}
	return Enqueued{ID: info.ID, Queue: info.Queue}, nil
}

// Close releases the client; the Redis connection stays open.
func (c *Client) Close() error { return errors.Join(c.asynq.Close(), c.insp.Close()) }

func taskIDOf(opts []asynq.Option) string {
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			if id, ok := o.Value().(string); ok {
				return id
			}
		}
	}
	return ""
}

func queueOf(opts []asynq.Option) string {
	for _, o := range opts {
		if o.Type() == asynq.QueueOpt {
			if q, ok := o.Value().(string); ok {
				return q
			}
		}
	}
	return QueueDefault
}
