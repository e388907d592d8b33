package wiring

import (
	"fmt"

	"github.com/tenantfleet/tenantfleet/agents/health"
)

// newHealthAgent builds the health agent: sweeps through the admin
// sessions, the pool watch over the fleet's Redis, alerts through the
// engine, and its series on the process's registry.
func (s *Services) newHealthAgent(a Conns) error {
	var err error
	if s.Health, err = health.New(health.Config{
		Store: s.Catalog, Sessions: s.Sessions, Alerts: s.Alerts, Redis: a.Redis, Fleet: a.Config.Name,
		IdleInTxTimeout: a.Config.Health.IdleInTxTimeout, PoolExhaustedAfter: a.Config.Health.PoolExhaustedAfter,
		CapacityHigh: max(a.Config.CapacityThreshold, 0.9), Logger: a.Logger,
	}); err != nil {
		return err
	}
	if err := a.Registry.Register(s.Health.Collector()); err != nil {
		return fmt.Errorf("register health metrics: %w", err)
	}
	return nil
}
