package wiring

import (
	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/infra/dashboard"
)

// NewDashboard builds the web pages of the api role over the services'
// stores and agents, the queues' inspector and a scheduler that is built
// (to list its entries) but never started. The caller registers it on the
// HTTP server, starts its chart sampler, and stops it; close releases the
// inspector.
func (s *Services) NewDashboard(a Conns) (d *dashboard.Dashboard, closeFn func(), err error) {
	sched, err := s.NewScheduler(a)
	if err != nil {
		return nil, nil, err
	}
	insp := asynq.NewInspectorFromRedisClient(a.Redis)
	d, err = dashboard.New(dashboard.Config{
		Store:      s.Catalog,
		Alerts:     s.Alerts,
		Migrations: s.Migrate,
		Queues:     insp,
		PoolStats:  s.Health.PoolStats,
		Schedule:   sched.Entries,
		Logger:     a.Logger,
	})
	if err != nil {
		_ = insp.Close()
		return nil, nil, err
	}
	return d, func() { d.Stop(); _ = insp.Close() }, nil
}
