package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/metrics"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/wiring"
)

// app holds the connections every role shares.
type app struct {
	cfg   config.Config
	log   *slog.Logger
	db    *pgxpool.Pool
	redis *redis.Client
	// redisTarget makes the Redis clients that components open themselves
	// (Asynqmon).
	redisTarget *redisconn.Target
	queue       *queue.Client
	inspector   *asynq.Inspector
	registry    *prometheus.Registry
}

// newLogger builds the process logger from the configured format and level.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openApp connects to the control plane (creating and migrating it) and to
// Redis.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	db, err := controlplane.Open(ctx, config.WithPoolSize(cfg.DatabaseURL, cfg.WorkerConcurrency+10), log)
	if err != nil {
		return nil, err
	}
	target, err := redisconn.New(cfg.Redis())
	if err != nil {
		db.Close()
		return nil, err
	}
	rdb := target.NewClient()
	if err := rdb.Ping(ctx).Err(); err != nil {
		db.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", target, err)
	}
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	return &app{
		cfg:         cfg,
		log:         log,
		db:          db,
		redis:       rdb,
		redisTarget: target,
		queue:       queue.NewClient(rdb),
		inspector:   inspector,
		registry:    metrics.NewRegistry(inspector, slices.Sorted(maps.Keys(queue.Weights()))),
	}, nil
}

// conns are the app's connections as the fleet's wiring takes them.
func (a *app) conns() wiring.Conns {
	return wiring.Conns{Config: a.cfg, Logger: a.log, DB: a.db, Redis: a.redis, Queue: a.queue, Registry: a.registry}
}

// close releases the connections.
func (a *app) close() {
	_ = a.queue.Close()
	_ = a.inspector.Close()
	_ = a.redis.Close()
	a.db.Close()
}
