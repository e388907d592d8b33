package wiring

import (
	"context"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// NewCostAnalyzer builds the cost analyzer and only what it needs (the
// catalog, the instance sessions, Redis for the published pool
// statistics), for a one-off analysis outside a running fleet; the caller
// closes the returned Services when done.
func NewCostAnalyzer(ctx context.Context, a Conns) (*Services, *cost.Analyzer, error) {
	s := &Services{Catalog: controlplane.NewStore(a.DB)}
	if err := s.openSessions(ctx, a); err != nil {
		s.Close()
		return nil, nil, err
	}
	if err := s.newCostAnalyzer(a); err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, s.Cost, nil
}

// newCostAnalyzer builds the cost analyzer over the catalog and the
// instance sessions (catalog reads as admin, every EXPLAIN as the tenant),
// with the configured price table and thresholds, reading the published
// pool statistics from the fleet's Redis, and the requester that queues an
// analysis now (fleet cost analyze, POST /api/v1/cost/analyze).
func (s *Services) newCostAnalyzer(a Conns) error {
	var err error
	c := a.Config.Cost
	cfg := cost.Config{Store: s.Catalog, Sessions: s.Sessions, Fleet: a.Config.Name, Logger: a.Logger,
		Prices: cost.PricesFrom(c.Prices()), DedicatedShare: c.DedicatedShare, SharedShare: c.SharedShare, MinWindow: c.MinWindow}
	if a.Redis != nil { // a nil *redis.Client must not become a non-nil interface
		cfg.Redis = a.Redis
	}
	s.Cost, err = cost.New(cfg)
	s.CostRequests = cost.Requester{Store: s.Catalog, Queue: a.Queue}
	return err
}
