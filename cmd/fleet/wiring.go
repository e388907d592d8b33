package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// services are the agents and catalogs built once per process and shared by
// its roles.
type services struct {
	catalog   *tenants.Catalog
	router    *tenants.Router
	intake    *intake.Intake
	provider  provider.Provider
	connector *provision.LocalConnector
	provision *provision.Agent
}

// newServices builds the fleet's agents from the configuration and starts
// the router's change subscription.
func newServices(ctx context.Context, a *app) (*services, error) {
	s := &services{catalog: tenants.NewCatalog(a.db)}
	var err error
	if s.intake, err = intake.New(intake.Config{
		DB:           a.db,
		Queue:        a.queue,
		JiraSecret:   a.cfg.WebhookSecret,
		TicketSecret: a.cfg.WebhookSecret,
		Logger:       a.log,
	}); err != nil {
		return nil, err
	}
	if s.router, err = tenants.NewRouter(tenants.RouterConfig{Source: s.catalog, Redis: a.redis, Fleet: a.cfg.Name, Logger: a.log}); err != nil {
		return nil, err
	}
	if err := s.router.Start(ctx); err != nil {
		return nil, err
	}
	if s.provider, err = newProvider(ctx, a); err != nil {
		s.close()
		return nil, err
	}
	migrator, err := migrations.New(migrations.Config{Logger: a.log})
	if err != nil {
		s.close()
		return nil, err
	}
	s.connector = &provision.LocalConnector{AdminURL: a.cfg.LocalAdminURL}
	if s.provision, err = provision.New(provision.Config{
		DB:                a.db,
		Queue:             a.queue,
		Catalog:           s.catalog,
		Router:            s.router,
		Intake:            s.intake,
		Provider:          s.provider,
		Connector:         s.connector,
		Migrator:          migrator,
		Fleet:             a.cfg.Name,
		CapacityThreshold: a.cfg.CapacityThreshold,
		MaxTenants:        a.cfg.MaxTenantsPerInstance,
		Logger:            a.log,
	}); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newProvider builds the configured instance provider.
func newProvider(ctx context.Context, a *app) (provider.Provider, error) {
	switch a.cfg.Provider {
	case local.Name:
		return local.New(ctx, local.Config{AdminURL: a.cfg.LocalAdminURL, Logger: a.log})
	case rds.Name:
		return rds.New(ctx, rds.Config{Region: a.cfg.AWSRegion, Endpoint: a.cfg.RDSEndpoint, Logger: a.log})
	}
	return nil, fmt.Errorf("unknown provider %q", a.cfg.Provider)
}

// close stops what newServices started.
func (s *services) close() {
	if s.router != nil {
		s.router.Stop()
	}
	if s.connector != nil {
		s.connector.Close()
	}
	if c, ok := s.provider.(interface{ Close() }); ok {
		c.Close()
	}
}

// registerHandlers registers every agent's task handlers on the worker.
func (s *services) registerHandlers(w *queue.Worker) {
	s.intake.RegisterHandlers(w)
	s.provision.Register(w)
}

// registerSchedules adds the periodic entries to the scheduler.
func (s *services) registerSchedules(sched *queue.Scheduler) error {
	return errors.Join(s.intake.RegisterSchedule(sched))
}

// registerRoutes adds the webhooks and the REST API to the HTTP server.
func (s *services) registerRoutes(srv *httpapi.Server) {
	s.intake.Register(srv)
	restapi.New(s.catalog).Register(srv)
}
