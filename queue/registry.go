package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// allQueuesKey is Asynq's set of known queue names (internal/base.AllQueues).
// The inspector, Asynqmon and the queue metrics list only the queues in it.
const allQueuesKey = "asynq:queues"

// queueRegisterInterval is how often a worker re-announces its queues.
const queueRegisterInterval = 15 * time.Second

// announceQueues keeps the worker's queue names in Asynq's queue set until
// ctx ends. An Asynq client adds a queue name only on its first enqueue in a
// process, so after Redis is wiped (it often runs without persistence) the
// queues would vanish from the dashboard and metrics while tasks still flow.
func announceQueues(ctx context.Context, rdb redis.UniversalClient, queues []string, log *slog.Logger) {
	members := make([]any, len(queues))
	for i, q := range queues {
		members[i] = q
	}
	ticker := time.NewTicker(queueRegisterInterval)
	defer ticker.Stop()
	for {
		if err := rdb.SAdd(ctx, allQueuesKey, members...).Err(); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "announcing queues failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
