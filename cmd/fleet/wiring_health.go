package main

import (
	"fmt"

	"github.com/tenantfleet/tenantfleet/agents/health"
)

// newHealthAgent builds the health agent: sweeps through the admin
// sessions, the pool watch over the fleet's Redis, alerts through the
// engine, and its series on the process's registry.
func (s *services) newHealthAgent(a *app) error {
	var err error
	if s.health, err = health.New(health.Config{
		Store: s.catalog, Sessions: s.sessions, Alerts: s.alerts, Redis: a.redis, Fleet: a.cfg.Name,
		IdleInTxTimeout: a.cfg.Health.IdleInTxTimeout, PoolExhaustedAfter: a.cfg.Health.PoolExhaustedAfter,
		CapacityHigh: max(a.cfg.CapacityThreshold, 0.9), Logger: a.log,
	}); err != nil {
		return err
	}
	if err := a.registry.Register(s.health.Collector()); err != nil {
		return fmt.Errorf("register health metrics: %w", err)
	}
	return nil
}
