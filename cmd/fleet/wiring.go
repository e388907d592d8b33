package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/health"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/agents/scheduler"
	"github.com/tenantfleet/tenantfleet/config"
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
	// batchPools run the batch jobs, each tenant on its own login.
	batchPools *tenants.Pools
	batch      *batch.Agent
	alerts     *alerts.Engine
	health     *health.Agent
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
	if err := s.newBatchAgent(a); err != nil {
		s.close()
		return nil, err
	}
	if err := s.newHealthAgent(a); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newBatchAgent builds the batch agent, its jobs running through
// tenants.Pools in which every tenant logs in as its own role.
func (s *services) newBatchAgent(a *app) error {
	var err error
	if s.batchPools, err = s.sessions.TenantPools(tenants.PoolsConfig{
		Resolver: s.router, Fleet: a.cfg.Name,
		// Every tenant has a pool of its own of one connection (a batch
		// job is one transaction at a time), closed 30s after its last use:
		// staggered tenants hold connections only around their runs.
		PoolSize: 1, DedicatedPoolSize: 1, InteractiveReserve: -1, IdleTimeout: 30 * time.Second,
		AcquireTimeout: a.cfg.AcquireTimeout, Logger: a.log,
	}, s.catalog.GetInstance); err != nil {
		return err
	}
	kinds, err := batchKinds(a.cfg)
	if err != nil {
		return err
	}
	s.batch, err = batch.New(batch.Config{
		Store: s.catalog, Queue: a.queue,
		Scope: s.batchPools, Kinds: kinds, Logger: a.log,
	})
	return err
}

// batchKinds are the batch job kinds of this build, with the timings of
// FLEET_BATCH_JOBS applied; a timing for a kind that does not exist is an
// error.
func batchKinds(cfg config.Config) ([]batch.Kind, error) {
	kinds := []batch.Kind{batch.ComplianceSnapshot()}
	known := map[string]bool{}
	for i, k := range kinds {
		known[k.Name] = true
		if t, ok := cfg.BatchJobs[k.Name]; ok {
			kinds[i].Timing = batch.Timing{Period: t.Period, Window: t.Window}
		}
	}
	for name := range cfg.BatchJobs {
		if !known[name] {
			return nil, fmt.Errorf("%w: FLEET_BATCH_JOBS names %q, which is not a batch job kind", config.ErrInvalid, name)
		}
	}
	return kinds, nil
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
		if key, created, err = controlplane.StoredSecretKey(ctx, a.db); err != nil {
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
	if s.batchPools != nil {
		s.batchPools.Stop()
	}
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
	s.batch.Register(w)
	s.health.Register(w)
}

// registerSchedules adds the periodic entries to the scheduler. handles
// reports the task types this build's workers handle: the fleet-wide
// entries of the others enqueue nothing.
func (s *services) registerSchedules(cfg config.Config, sched *queue.Scheduler, handles func(string) bool) error {
	return errors.Join(
		s.intake.RegisterSchedule(sched), s.migrate.RegisterSchedule(sched), s.offboard.RegisterSchedule(sched),
		scheduler.Register(sched, scheduler.Config{
			Instances: s.catalog, HealthInterval: cfg.HealthInterval, PoolWatchInterval: cfg.PoolWatchInterval,
			CostSchedule: cfg.CostSchedule, Handles: handles, Logger: sched.Logger(),
		}),
		s.batch.RegisterSchedule(sched),
	)
}

// newScheduler builds the scheduler with every entry registered, asking a
// worker that is never started which task types this build handles.
func (s *services) newScheduler(a *app) (*queue.Scheduler, error) {
	sched, err := queue.NewScheduler(queue.SchedulerConfig{Client: a.queue, Logger: a.log})
	if err != nil {
		return nil, err
	}
	probe, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log})
	if err != nil {
		return nil, err
	}
	s.registerHandlers(probe)
	if err := s.registerSchedules(a.cfg, sched, probe.Handles); err != nil {
		return nil, err
	}
	return sched, nil
}

// registerRoutes adds the webhooks and the REST API to the HTTP server.
func (s *services) registerRoutes(srv *httpapi.Server) {
	s.intake.Register(srv)
	s.offboard.Register(srv)
	restapi.New(s.catalog).Register(srv)
	s.migrate.RegisterRoutes(srv)
	s.alerts.RegisterRoutes(srv)
}
