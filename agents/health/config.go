package health

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// AdminSessions opens the admin pool of an instance; *sessions.Sessions
// implements it. The health agent only reads catalogs and statistics
// views through it, and terminates sessions.
type AdminSessions interface {
	Admin(ctx context.Context, inst controlplane.Instance) (*pgxpool.Pool, error)
}

// Config configures an Agent.
type Config struct {
	// Store is the control plane: instances, tenants, health. Required.
	Store *controlplane.Store
	// Sessions opens admin sessions on instances. Required for sweeps.
	Sessions AdminSessions
	// Alerts receives every observation. Required.
	Alerts *alerts.Engine
	// Redis holds the published pool statistics. Required for the pool
	// watch.
	Redis redis.UniversalClient
	// Fleet is the fleet's name (Redis keys, the application role).
	// Required.
	Fleet string

	// PingTimeout bounds the ping. Default 2s.
	PingTimeout time.Duration
	// IdleInTxTimeout is how long a session may sit idle in a transaction
	// before the sweep terminates it (FLEET_IDLE_IN_TX_TIMEOUT). Default
	// 2m, at least 1s.
	IdleInTxTimeout time.Duration
	// LongQuery is when a running query counts as long. Default 5m.
	LongQuery time.Duration
	// BlockedFor is how long a session must wait on a lock before its
	// chain is alerted. Default 30s.
	BlockedFor time.Duration
	// ConnectionsHigh is the share of max_connections past which
	// connections_high fires. Default 0.85.
	ConnectionsHigh float64
	// XIDAgeHigh is the transaction id age past which xid_age_high fires.
	// Default 1.2e9 (wraparound is at 2.1e9).
	XIDAgeHigh int64
	// ReplicationLagHigh is the replica lag past which replication_lag
	// fires. Default 30s.
	ReplicationLagHigh time.Duration
	// CapacityHigh is the capacity ratio past which capacity_high fires.
	// Default 0.9.
	CapacityHigh float64

	// PoolExhaustedAfter is how long a pool must stay saturated with
	// waiters before pool_exhausted fires (FLEET_POOL_EXHAUSTED_AFTER).
	// Default 5s.
	PoolExhaustedAfter time.Duration
	// TopTenants caps the per-tenant Prometheus series: the K tenants with
	// the highest values get their own, the rest sum into "other".
	// Default 20.
	TopTenants int
	// Logger receives the agent's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Store == nil || c.Alerts == nil {
		return errors.New("health: config needs a Store and Alerts")
	}
	if err := tenants.ValidateFleet(c.Fleet); err != nil {
		return err
	}
	c.PingTimeout = cmp.Or(c.PingTimeout, 2*time.Second)
	c.IdleInTxTimeout = cmp.Or(c.IdleInTxTimeout, 2*time.Minute)
	c.LongQuery = cmp.Or(c.LongQuery, 5*time.Minute)
	c.BlockedFor = cmp.Or(c.BlockedFor, 30*time.Second)
	c.ConnectionsHigh = cmp.Or(c.ConnectionsHigh, 0.85)
	c.XIDAgeHigh = cmp.Or(c.XIDAgeHigh, 1_200_000_000)
	c.ReplicationLagHigh = cmp.Or(c.ReplicationLagHigh, 30*time.Second)
	c.CapacityHigh = cmp.Or(c.CapacityHigh, 0.9)
	c.PoolExhaustedAfter = cmp.Or(c.PoolExhaustedAfter, 5*time.Second)
	c.TopTenants = cmp.Or(c.TopTenants, 20)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	for _, d := range []time.Duration{c.PingTimeout, c.IdleInTxTimeout, c.LongQuery, c.BlockedFor, c.ReplicationLagHigh, c.PoolExhaustedAfter} {
		if d < time.Second {
			return errors.New("health: durations must be at least 1s")
		}
	}
	if c.ConnectionsHigh <= 0 || c.CapacityHigh <= 0 || c.XIDAgeHigh <= 0 || c.TopTenants < 1 {
		return errors.New("health: thresholds must be positive")
	}
	return nil
}

// Agent runs health sweeps and pool watches.
type Agent struct {
	cfg     Config
	appRole string
}

// New validates cfg.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, appRole: tenants.AppRoleName(cfg.Fleet)}, nil
}
