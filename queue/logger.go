package queue

import (
	"context"
	"fmt"
	"log/slog"
)

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }

// Fatal logs at error level. Asynq calls it on unrecoverable start-up
// failures; the caller's Start returns the error, so the process is not
// killed from inside the library.
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)) }

type loggerKey struct{}

// WithLogger returns ctx carrying a task-scoped logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the task-scoped logger of ctx (with the task type and id
// attached by the worker middleware), or slog.Default.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
