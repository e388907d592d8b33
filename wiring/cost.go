package wiring

import (
	"context"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// NewCostAnalyzer builds the cost analyzer and only what it needs (the
// catalog and the instance sessions), for `fleet cost analyze`; the caller
// closes the returned Services when done.
func NewCostAnalyzer(ctx context.Context, a Conns) (*Services, *cost.Analyzer, error) {
	s := &Services{Catalog: controlplane.NewStore(a.DB)}
	if err := s.openSessions(ctx, a); err != nil {
		s.Close()
		return nil, nil, err
	}
	an, err := cost.New(cost.Config{Store: s.Catalog, Sessions: s.Sessions, Fleet: a.Config.Name, Logger: a.Logger})
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, an, nil
}
