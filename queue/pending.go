package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// EnqueueUnlessPending enqueues task under the fixed task id id (with
// opts, whose queue it goes to): a second request while the first is
// pending, scheduled, active or waiting to retry is Duplicate and enqueues
// nothing. A task of that id that has finished but is still held in Redis
// (archived after its last failure, or retained after success) does not
// block a new request: it is deleted and the task enqueued again.
func (c *Client) EnqueueUnlessPending(ctx context.Context, task *asynq.Task, id string, opts ...asynq.Option) (Enqueued, error) {
	opts = append(opts, asynq.TaskID(id))
	for attempt := 0; ; attempt++ {
		res, err := c.Enqueue(ctx, task, opts...)
		if err != nil || !res.Duplicate || attempt > 0 {
			return res, err
		}
		info, err := c.Lookup(ctx, res.Queue, id)
		if errors.Is(err, ErrTaskNotFound) {
			continue // it finished between the enqueue and the lookup
		}
		if err != nil {
			return Enqueued{}, err
		}
		if info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted {
			return res, nil
		}
		if err := c.insp.DeleteTask(res.Queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return Enqueued{}, fmt.Errorf("queue: replace finished task %s: %w", id, err)
		}
	}
}
