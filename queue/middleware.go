package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// TaskMetrics counts processed tasks by type and outcome and times them.
type TaskMetrics struct {
	processed *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	panics    *prometheus.CounterVec
}

// NewTaskMetrics creates the task collectors; register them with Register.
func NewTaskMetrics() *TaskMetrics {
	return &TaskMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantfleet_tasks_processed_total",
			Help: "Tasks processed by this worker, by type and outcome (ok, error, skip, waiting).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenantfleet_task_duration_seconds",
			Help:    "Handler run time by task type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"type"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantfleet_task_panics_total",
			Help: "Handler panics recovered by the worker, by task type.",
		}, []string{"type"}),
	}
}

// Describe implements prometheus.Collector.
func (m *TaskMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.processed.Describe(ch)
	m.duration.Describe(ch)
	m.panics.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *TaskMetrics) Collect(ch chan<- prometheus.Metric) {
	m.processed.Collect(ch)
	m.duration.Collect(ch)
	m.panics.Collect(ch)
}

// ErrPanic wraps a recovered handler panic.
var ErrPanic = errors.New("task handler panicked")

// observe is the worker's middleware: it attaches a logger carrying the task
// type and id to the context, recovers panics into errors, logs the outcome
// and records metrics.
func observe(logger *slog.Logger, metrics *TaskMetrics) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			id, _ := asynq.GetTaskID(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			log := logger.With(slog.String("task_type", t.Type()), slog.String("task_id", id))
			ctx = WithLogger(ctx, log)
			start := time.Now()
			defer func() {
				if r := recover(); r != nil {
					metrics.panics.WithLabelValues(t.Type()).Inc()
					log.ErrorContext(ctx, "task panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
					err = fmt.Errorf("%w: %v", ErrPanic, r)
				}
				took := time.Since(start)
				metrics.duration.WithLabelValues(t.Type()).Observe(took.Seconds())
				switch {
				case err == nil:
					metrics.processed.WithLabelValues(t.Type(), "ok").Inc()
					log.InfoContext(ctx, "task done", slog.Duration("took", took), slog.Int("retried", retried))
				case errors.Is(err, asynq.SkipRetry):
					metrics.processed.WithLabelValues(t.Type(), "skip").Inc()
					log.ErrorContext(ctx, "task failed, not retried", slog.Duration("took", took), slog.Any("error", err))
				case errors.As(err, new(*NotReadyError)):
					metrics.processed.WithLabelValues(t.Type(), "waiting").Inc()
					log.DebugContext(ctx, "task waiting", slog.Duration("took", took), slog.Any("reason", err))
				case errors.Is(err, context.Canceled):
					metrics.processed.WithLabelValues(t.Type(), "error").Inc()
					log.InfoContext(ctx, "task interrupted, back to the queue", slog.Duration("took", took))
				default:
					metrics.processed.WithLabelValues(t.Type(), "error").Inc()
					log.WarnContext(ctx, "task failed, will retry", slog.Duration("took", took), slog.Int("retried", retried), slog.Any("error", err))
				}
			}()
			return next.ProcessTask(ctx, t)
		})
	}
}
