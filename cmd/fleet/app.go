package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/metrics"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/queue"
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
	db, err := controlplane.Open(ctx, withPoolSize(cfg.DatabaseURL, cfg.WorkerConcurrency+10), log)
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

// close releases the connections.
func (a *app) close() {
	_ = a.queue.Close()
	_ = a.inspector.Close()
	_ = a.redis.Close()
	a.db.Close()
}

// withPoolSize sets pgxpool's pool_max_conns on a database URL unless the
// URL sets it: every concurrent task may hold a control-plane connection,
// and pgxpool's default (the number of CPUs, at least 4) would queue them.
func withPoolSize(raw string, n int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Get("pool_max_conns") == "" {
		q.Set("pool_max_conns", strconv.Itoa(n))
		u.RawQuery = q.Encode()
	}
	return u.String()
}
