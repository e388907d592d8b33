package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hibiken/asynq"
)

// ErrTaskNotFound marks a task id Redis does not hold: never enqueued, its
// retention over, or Redis wiped.
var ErrTaskNotFound = errors.New("queue: task not found")

// TaskInfo says where one task stands in Redis.
type TaskInfo struct {
	// ID is the task id.
	ID string
	// State is Asynq's state of the task: pending, active, scheduled,
	// retry, archived (out of retries, or not retried), completed
	// (retained after success) or aggregating.
	State asynq.TaskState
	// Retried counts the runs that failed; MaxRetry is the task's budget.
	Retried, MaxRetry int
	// LastErr is the error of the last failed run, "" if none.
	LastErr string
	// Orphaned marks an active task whose lease expired: its worker died
	// (or lost Redis) and no one is running it. Asynq's recoverer hands it
	// back a minute or two later; a reconciler may hand its work to a new
	// task at once, if the work is guarded against running twice.
	Orphaned bool
}

// Lookup reads task id on queue name. A task Redis does not hold gives an
// error matching ErrTaskNotFound.
func (c *Client) Lookup(ctx context.Context, queue, id string) (TaskInfo, error) {
	info, err := c.insp.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		// The inspector only looks in queues named in Asynq's queue set,
		// which a wiped Redis lost while a long-lived client still fills
		// the queue (it registers a name once per process). Name it again.
		if err := c.rdb.SAdd(ctx, allQueuesKey, queue).Err(); err != nil {
			return TaskInfo{}, fmt.Errorf("queue: look up task %s: %w", id, err)
		}
		info, err = c.insp.GetTaskInfo(queue, id)
	}
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return TaskInfo{}, fmt.Errorf("%w: %s on %s", ErrTaskNotFound, id, queue)
	case err != nil:
		return TaskInfo{}, fmt.Errorf("queue: look up task %s: %w", id, err)
	}
	ti := TaskInfo{ID: info.ID, State: info.State, Retried: info.Retried, MaxRetry: info.MaxRetry, LastErr: info.LastErr}
	if info.State == asynq.TaskStateActive {
		// Asynq's inspector tells orphans only when listing every active
		// task; one task's lease is one score in the queue's lease set
		// (asynq's layout: the deadline in Unix seconds).
		deadline, err := c.rdb.ZScore(ctx, "asynq:{"+queue+"}:lease", id).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return TaskInfo{}, fmt.Errorf("queue: look up task %s lease: %w", id, err)
		}
		ti.Orphaned = err == nil && deadline < float64(time.Now().Unix())
	}
	return ti, nil
}
