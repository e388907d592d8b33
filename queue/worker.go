package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Redis is the connection the worker uses; the caller closes it. Required.
	Redis redis.UniversalClient
	// Concurrency is how many tasks run at once. Default 20.
	Concurrency int
	// TaskCheckInterval is how often an idle worker polls. Default 50ms.
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often scheduled and retrying tasks
	// are moved to their queue when due. Default 1s (Asynq's own is 5s,
	// which would stretch every short NotReady wait to seconds).
	DelayedTaskCheckInterval time.Duration
	// ShutdownTimeout is how long in-flight tasks get to finish on Stop
	// before they are returned to their queue. Default 25s.
	ShutdownTimeout time.Duration
	// Queues overrides the queue weights. Default Weights().
	Queues map[string]int
	// Logger receives task and worker logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics records task outcomes. Default: a fresh, unregistered set.
	Metrics *TaskMetrics
}

// Worker is the Asynq server that runs the agents' handlers. Agents
// register on Mux before Start.
type Worker struct {
	cfg    WorkerConfig
	mux    *asynq.ServeMux
	server *asynq.Server

	typesMu sync.Mutex
	types   map[string]bool

	mu       sync.Mutex
	started  bool
	stopped  bool
	announce context.CancelFunc
	done     chan struct{}
}

// NewWorker validates cfg and builds a worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Redis == nil {
		return nil, errors.New("queue: worker needs a Redis client")
	}
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 20)
	cfg.TaskCheckInterval = cmp.Or(cfg.TaskCheckInterval, 50*time.Millisecond)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, 25*time.Second)
	cfg.DelayedTaskCheckInterval = cmp.Or(cfg.DelayedTaskCheckInterval, time.Second)
	if cfg.Queues == nil {
		cfg.Queues = Weights()
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Metrics == nil {
		cfg.Metrics = NewTaskMetrics()
	}
	w := &Worker{cfg: cfg, mux: asynq.NewServeMux(), types: map[string]bool{}}
	w.mux.Use(observe(cfg.Logger, cfg.Metrics))
	w.server = asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Queues,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		Logger:                   asynqLogger{cfg.Logger.With(slog.String("component", "asynq"))},
		LogLevel:                 asynq.WarnLevel,
		IsFailure:                isFailure,
		RetryDelayFunc:           retryDelay,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			// The middleware has logged the failure with context; nothing more.
		}),
	})
	return w, nil
}

// Handle registers a handler for a task type.
func (w *Worker) Handle(taskType string, h asynq.Handler) {
	w.mux.Handle(taskType, h)
	w.typesMu.Lock()
	w.types[taskType] = true
	w.typesMu.Unlock()
}

// HandleFunc registers a handler function for a task type.
func (w *Worker) HandleFunc(taskType string, h func(context.Context, *asynq.Task) error) {
	w.Handle(taskType, asynq.HandlerFunc(h))
}

// Handles reports whether a handler is registered for taskType. The
// scheduler role asks it of a worker that is never started, to enqueue
// periodic tasks only when this build of the fleet can run them.
func (w *Worker) Handles(taskType string) bool {
	w.typesMu.Lock()
	defer w.typesMu.Unlock()
	return w.types[taskType]
}

// Start begins processing. It returns once the server runs.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("queue: worker already started")
	}
	if err := w.server.Start(w.mux); err != nil {
		return fmt.Errorf("queue: start worker: %w", err)
	}
	w.started = true
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.announce, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		announceQueues(actx, w.cfg.Redis, slices.Sorted(maps.Keys(w.cfg.Queues)), w.cfg.Logger)
	}()
	w.cfg.Logger.InfoContext(ctx, "worker started", slog.Int("concurrency", w.cfg.Concurrency))
	return nil
}

// Stop stops taking new tasks, waits up to the shutdown timeout for the
// in-flight ones, and returns the rest to their queues. Safe to call twice.
func (w *Worker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.stopped {
		return
	}
	w.stopped = true
	w.announce()
	<-w.done
	w.server.Stop()
	w.server.Shutdown()
}
