package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/cloudwatch"
	"github.com/tenantfleet/tenantfleet/infra/load/pgstat"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// services are the agents and catalogs built once per process and shared by
// its roles.
type services struct {
	catalog   *controlplane.Store
	router    *tenants.Router
	intake    *intake.Intake
	offboard  *offboard.Outbox
	provider  provider.Provider
	connector provider.Connector
	sessions  *sessions.Sessions
	provision *provision.Agent
	adminDB   *pgxpool.Pool
	migrate   *migrate.Runner
	alerts    *alerts.Engine
}

// newServices builds the fleet's agents from the configuration and starts
// the router's change subscription.
func newServices(ctx context.Context, a *app) (*services, error) {
	s := &services{catalog: controlplane.NewStore(a.db)}
	var err error
	if s.alerts, err = newAlertEngine(a); err != nil {
		return nil, err
	}
	if err := a.registry.Register(s.alerts.Collector()); err != nil {
		return nil, fmt.Errorf("register alert metrics: %w", err)
	}
	if s.intake, err = intake.New(intake.Config{
		DB:           a.db,
		Queue:        a.queue,
		JiraSecret:   a.cfg.JiraWebhookSecret,
		TicketSecret: a.cfg.TicketWebhookSecret,
		Jira: intake.JiraMapping{
			Projects: a.cfg.JiraProjects, IssueTypes: a.cfg.JiraIssueTypes,
			TenantField: a.cfg.JiraTenantField, TierField: a.cfg.JiraTierField,
		},
		Logger: a.log,
	}); err != nil {
		return nil, err
	}
	if s.router, err = tenants.NewRouter(tenants.RouterConfig{Source: s.catalog, Redis: a.redis, Fleet: a.cfg.Name, Logger: a.log}); err != nil {
		return nil, err
	}
	if err := a.registry.Register(s.router.Collector()); err != nil {
		return nil, fmt.Errorf("register router metrics: %w", err)
	}
	if err := s.router.Start(ctx); err != nil {
		return nil, err
	}
	if s.offboard, err = offboard.New(offboard.Config{DB: a.db, Queue: a.queue, Redis: a.redis, Router: s.router, Logger: a.log}); err != nil {
		s.close()
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
	if err := s.openSessions(ctx, a); err != nil {
		s.close()
		return nil, err
	}
	if s.provision, err = provision.New(provision.Config{
		DB:                a.db,
		Queue:             a.queue,
		Catalog:           s.catalog,
		Router:            s.router,
		Intake:            s.intake,
		Provider:          s.provider,
		Sessions:          s.sessions,
		Migrator:          migrator,
		Fleet:             a.cfg.Name,
		CapacityThreshold: a.cfg.CapacityThreshold,
		MaxTenants:        a.cfg.MaxTenantsPerInstance,
		Logger:            a.log,
	}); err != nil {
		s.close()
		return nil, err
	}
	if err := s.newMigrationRunner(ctx, a, migrator); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newMigrationRunner builds the fleet migration runner with the load source
// of the configured provider.
func (s *services) newMigrationRunner(ctx context.Context, a *app, migrator *migrations.Migrator) error {
	var (
		source load.Source
		err    error
	)
	switch a.cfg.Provider {
	case local.Name:
		if s.adminDB, err = pgxpool.New(ctx, withPoolSize(a.cfg.LocalAdminURL, 2)); err != nil {
			return fmt.Errorf("local admin pool: %w", err)
		}
		source, err = pgstat.New(pgstat.Config{DB: s.adminDB, IgnoreApplications: []string{migrate.ApplicationName}})
	case rds.Name:
		source, err = cloudwatch.New(ctx, cloudwatch.Config{AWS: awsclient.Settings{Region: a.cfg.AWSRegion}})
	}
	if err != nil {
		return err
	}
	if err := s.openSessions(ctx, a); err != nil {
		return err
	}
	s.migrate, err = migrate.New(migrate.Config{
		DB: a.db, Redis: a.redis, Queue: a.queue, Fleet: a.cfg.Name,
		Migrator: migrator, Sessions: s.sessions, Load: source, Logger: a.log,
	})
	return err
}

// newProvider builds the configured instance provider.
func newProvider(ctx context.Context, a *app) (provider.Provider, error) {
	switch a.cfg.Provider {
	case local.Name:
		return local.New(ctx, local.Config{AdminURL: a.cfg.LocalAdminURL, Logger: a.log})
	case rds.Name:
		return rds.New(ctx, rds.Config{AWS: awsclient.Settings{Region: a.cfg.AWSRegion, Endpoint: a.cfg.RDSEndpoint}, Logger: a.log})
	}
	return nil, fmt.Errorf("unknown provider %q", a.cfg.Provider)
}

// newConnector builds the configured provider's connector: each provider
// reaches its own instances with its own credentials, so the local admin
// URL is never sent to an RDS host.
func newConnector(ctx context.Context, a *app) (provider.Connector, error) {
	switch a.cfg.Provider {
	case local.Name:
		return local.NewConnector(local.ConnectorConfig{AdminURL: a.cfg.LocalAdminURL})
	case rds.Name:
		return rds.NewConnector(ctx, rds.ConnectorConfig{
			AWS:      awsclient.Settings{Region: a.cfg.AWSRegion, Endpoint: a.cfg.SecretsManagerEndpoint},
			CABundle: a.cfg.RDSCABundle,
			Logger:   a.log,
		})
	}
	return nil, fmt.Errorf("unknown provider %q", a.cfg.Provider)
}

// openSessions builds the provider's connector and the fleet's sessions on
// instances (once), with the configured secret key or, without one, the key
// kept in the control plane.
func (s *services) openSessions(ctx context.Context, a *app) error {
	if s.sessions != nil {
		return nil
	}
	key, err := a.cfg.SecretKeyBytes()
	if err != nil {
		return err
	}
	if key == nil {
		var created bool
		if key, created, err = controlplane.NewStore(a.db).SecretKey(ctx); err != nil {
			return err
		}
		if created {
			a.log.WarnContext(ctx, "FLEET_SECRET_KEY is not set: generated a secret key for tenant logins and kept it in the control plane; set FLEET_SECRET_KEY in production")
		}
	}
	if s.connector, err = newConnector(ctx, a); err != nil {
		return err
	}
	s.sessions, err = sessions.New(sessions.Config{Connector: s.connector, Key: key})
	return err
}

// close stops what newServices started.
func (s *services) close() {
	if s.alerts != nil {
		s.alerts.Stop()
	}
	if s.router != nil {
		s.router.Stop()
	}
	if s.connector != nil {
		s.connector.Close()
	}
	if s.adminDB != nil {
		s.adminDB.Close()
	}
	if c, ok := s.provider.(interface{ Close() }); ok {
		c.Close()
	}
}

// registerHandlers registers every agent's task handlers on the worker.
func (s *services) registerHandlers(w *queue.Worker) {
	s.intake.RegisterHandlers(w)
	s.offboard.RegisterHandlers(w)
	s.provision.Register(w)
	s.migrate.Register(w)
}

// registerSchedules adds the periodic entries to the scheduler.
func (s *services) registerSchedules(sched *queue.Scheduler) error {
	return errors.Join(s.intake.RegisterSchedule(sched), s.migrate.RegisterSchedule(sched), s.offboard.RegisterSchedule(sched))
}

// registerRoutes adds the webhooks and the REST API to the HTTP server;
// log receives the API's failed requests.
func (s *services) registerRoutes(srv *httpapi.Server, log *slog.Logger) {
	s.intake.RegisterWebhooks(srv)
	restapi.New(restapi.Config{
		Catalog: s.catalog, Onboarding: s.intake, Offboarding: s.offboard, Migrations: s.migrate, Logger: log,
	}).Register(srv)
	s.alerts.RegisterRoutes(srv)
}
