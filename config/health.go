package config

import (
	"cmp"
	"time"
)

// Health is the health agent's configuration, part of Config.
type Health struct {
	// IdleInTxTimeout is how long a fleet session may sit idle in a
	// transaction before the health sweep terminates it
	// (FLEET_IDLE_IN_TX_TIMEOUT, yaml idle_in_tx_timeout). Default 2m, at
	// least 1s.
	IdleInTxTimeout time.Duration `yaml:"idle_in_tx_timeout"`
	// PoolExhaustedAfter is how long a pool must stay saturated with
	// waiters before the pool watch raises pool_exhausted
	// (FLEET_POOL_EXHAUSTED_AFTER, yaml pool_exhausted_after). Default 5s,
	// at least 1s.
	PoolExhaustedAfter time.Duration `yaml:"pool_exhausted_after"`
}

func (h *Health) applyEnv(dur func(string, *time.Duration)) {
	dur("FLEET_IDLE_IN_TX_TIMEOUT", &h.IdleInTxTimeout)
	dur("FLEET_POOL_EXHAUSTED_AFTER", &h.PoolExhaustedAfter)
}

func (h *Health) applyDefaults() {
	h.IdleInTxTimeout = cmp.Or(h.IdleInTxTimeout, 2*time.Minute)
	h.PoolExhaustedAfter = cmp.Or(h.PoolExhaustedAfter, 5*time.Second)
}

func (h Health) validate(bad func(format string, args ...any)) {
	if h.IdleInTxTimeout < time.Second {
		bad("FLEET_IDLE_IN_TX_TIMEOUT must be at least 1s, got %s", h.IdleInTxTimeout)
	}
	if h.PoolExhaustedAfter < time.Second {
		bad("FLEET_POOL_EXHAUSTED_AFTER must be at least 1s, got %s", h.PoolExhaustedAfter)
	}
}
