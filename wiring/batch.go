package wiring

import (
	"fmt"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// newBatchAgent builds the batch agent, its jobs running through
// tenants.Pools in which every tenant logs in as its own role.
func (s *Services) newBatchAgent(a Conns) error {
	var err error
	if s.BatchPools, err = s.Sessions.TenantPools(tenants.PoolsConfig{
		Resolver: s.Router, Fleet: a.Config.Name,
		// Every tenant has a pool of its own of one connection (a batch
		// job is one transaction at a time), closed 30s after its last use:
		// staggered tenants hold connections only around their runs.
		PoolSize: 1, DedicatedPoolSize: 1, InteractiveReserve: -1, IdleTimeout: 30 * time.Second,
		Logger: a.Logger,
	}, s.Catalog.GetInstance); err != nil {
		return err
	}
	kinds, err := BatchKinds(a.Config)
	if err != nil {
		return err
	}
	s.Batch, err = batch.New(batch.Config{
		Store: s.Catalog, Queue: a.Queue,
		Scope: s.BatchPools, Kinds: kinds, Logger: a.Logger,
	})
	return err
}

// BatchKinds are the batch job kinds of this build, with the timings of
// FLEET_BATCH_JOBS applied; a timing for a kind that does not exist is an
// error.
func BatchKinds(cfg config.Config) ([]batch.Kind, error) {
	kinds := []batch.Kind{batch.ComplianceSnapshot()}
	known := map[string]bool{}
	for i, k := range kinds {
		known[k.Name] = true
		if t, ok := cfg.Schedule.BatchJobs[k.Name]; ok {
			kinds[i].Timing = batch.Timing{Period: t.Period, Window: t.Window}
		}
	}
	for name := range cfg.Schedule.BatchJobs {
		if !known[name] {
			return nil, fmt.Errorf("%w: FLEET_BATCH_JOBS names %q, which is not a batch job kind", config.ErrInvalid, name)
		}
	}
	return kinds, nil
}
