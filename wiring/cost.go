package wiring

import (
	"github.com/tenantfleet/tenantfleet/agents/cost"
)

// newCostAnalyzer builds the cost analyzer over the catalog and the
// instance sessions (catalog reads as admin, every EXPLAIN as the tenant),
// and the requester that queues an analysis now (fleet cost analyze,
// POST /api/v1/cost/analyze).
func (s *Services) newCostAnalyzer(a Conns) error {
	var err error
	s.Cost, err = cost.New(cost.Config{Store: s.Catalog, Sessions: s.Sessions, Fleet: a.Config.Name, Logger: a.Logger})
	s.CostRequests = cost.Requester{Store: s.Catalog, Queue: a.Queue}
	return err
}
