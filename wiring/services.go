// Package wiring builds the fleet's agents from its configuration and the
// connections a process opened: the one assembly both binaries use, `fleet
// run` and the commands of cmd/fleet, and fleetbench's in-process fleet, so
// a benchmark measures the wiring that ships.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/health"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/operators"
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

// Conns are what the caller opened and keeps: the configuration, the
// logger and the connections every role of the process shares. Services
// never close them.
type Conns struct {
	// Config is the fleet's validated configuration.
	Config config.Config
	// Logger receives every agent's logs.
	Logger *slog.Logger
	// DB is the control plane, migrated.
	DB *pgxpool.Pool
	// Redis is the client of the fleet's Redis database.
	Redis *redis.Client
	// Queue enqueues on that Redis.
	Queue *queue.Client
	// Registry receives the router's metrics.
	Registry prometheus.Registerer
}

// Services are the agents and catalogs built once per process and shared
// by its roles. Close releases what New opened.
type Services struct {
	// Catalog reads and writes tenants and instances.
	Catalog *controlplane.Store
	// Router resolves tenants' routes; started by New.
	Router *tenants.Router
	// Intake takes onboarding requests (webhooks, CLI).
	Intake *intake.Intake
	// Offboard takes offboarding and purge requests.
	Offboard *offboard.Outbox
	// Provider creates instances.
	Provider provider.Provider
	// Connector reaches the provider's instances.
	Connector provider.Connector
	// Sessions opens admin and tenant sessions on instances.
	Sessions *sessions.Sessions
	// Provision runs the onboarding and offboarding sagas.
	Provision *provision.Agent
	// Migrate runs fleet migration runs.
	Migrate *migrate.Runner
	// Alerts raises, resolves and delivers alerts; a worker starts its
	// delivery (Start).
	Alerts *alerts.Engine
	// BatchPools run the batch jobs, each tenant on its own login.
	BatchPools *tenants.Pools
	// Batch runs the tenants' staggered batch jobs.
	Batch *batch.Agent
	// Health sweeps instances and watches the published pool statistics.
	Health *health.Agent
	// Cost analyses query patterns and prices tenants (cost:analyze).
	Cost *cost.Analyzer
	// CostRequests queues a cost:analyze now (POST /api/v1/cost/analyze).
	CostRequests cost.Requester
	// Operators are the users, API tokens and browser sessions (the api
	// role's login; `fleet users`, `fleet tokens`).
	Operators *operators.Service

	adminDB *pgxpool.Pool
	conns   Conns
}

// New builds the fleet's agents from the configuration and starts the
// router's change subscription.
func New(ctx context.Context, a Conns) (*Services, error) {
	s := &Services{Catalog: controlplane.NewStore(a.DB), Operators: NewOperators(a), conns: a}
	var err error
	if s.Alerts, err = NewAlertEngine(a); err != nil {
		return nil, err
	}
	if err := a.Registry.Register(s.Alerts.Collector()); err != nil {
		return nil, fmt.Errorf("register alert metrics: %w", err)
	}
	if s.Intake, err = intake.New(intake.Config{
		DB:           a.DB,
		Queue:        a.Queue,
		JiraSecret:   a.Config.JiraWebhookSecret,
		TicketSecret: a.Config.TicketWebhookSecret,
		Jira: intake.JiraMapping{
			Projects: a.Config.JiraProjects, IssueTypes: a.Config.JiraIssueTypes,
			TenantField: a.Config.JiraTenantField, TierField: a.Config.JiraTierField,
		},
		Logger: a.Logger,
	}); err != nil {
		return nil, err
	}
	if s.Router, err = tenants.NewRouter(tenants.RouterConfig{Source: s.Catalog, Redis: a.Redis, Fleet: a.Config.Name, Logger: a.Logger}); err != nil {
		return nil, err
	}
	if err := a.Registry.Register(s.Router.Collector()); err != nil {
		return nil, fmt.Errorf("register router metrics: %w", err)
	}
	if err := s.Router.Start(ctx); err != nil {
		return nil, err
	}
	if s.Offboard, err = offboard.New(offboard.Config{DB: a.DB, Queue: a.Queue, Redis: a.Redis, Router: s.Router, Logger: a.Logger}); err != nil {
		s.Close()
		return nil, err
	}
	if s.Provider, err = newProvider(ctx, a); err != nil {
		s.Close()
		return nil, err
	}
	migrator, err := migrations.New(migrations.Config{Logger: a.Logger})
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openSessions(ctx, a); err != nil {
		s.Close()
		return nil, err
	}
	if s.Provision, err = provision.New(provision.Config{
		DB:                a.DB,
		Queue:             a.Queue,
		Catalog:           s.Catalog,
		Router:            s.Router,
		Intake:            s.Intake,
		Provider:          s.Provider,
		Sessions:          s.Sessions,
		Migrator:          migrator,
		Fleet:             a.Config.Name,
		CapacityThreshold: a.Config.CapacityThreshold,
		MaxTenants:        a.Config.MaxTenantsPerInstance,
		Logger:            a.Logger,
	}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newMigrationRunner(ctx, a, migrator); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newBatchAgent(a); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newHealthAgent(a); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newCostAnalyzer(a); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewMigrationRunner builds only the fleet migration runner (Migrate) and
// what it needs, for the commands that start or watch runs.
func NewMigrationRunner(ctx context.Context, a Conns) (*Services, error) {
	migrator, err := migrations.New(migrations.Config{Logger: a.Logger})
	if err != nil {
		return nil, err
	}
	s := &Services{}
	if err := s.newMigrationRunner(ctx, a, migrator); err != nil {
		s.Close()
		return nil, err
	}
	// fleet cost apply of a replica recommendation goes through it.
	if s.Provider, err = newProvider(ctx, a); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newMigrationRunner builds the fleet migration runner with the load source
// of the configured provider.
func (s *Services) newMigrationRunner(ctx context.Context, a Conns, migrator *migrations.Migrator) error {
	var (
		source load.Source
		err    error
	)
	switch a.Config.Provider {
	case local.Name:
		if s.adminDB, err = pgxpool.New(ctx, config.WithPoolSize(a.Config.LocalAdminURL, 2)); err != nil {
			return fmt.Errorf("local admin pool: %w", err)
		}
		source, err = pgstat.New(pgstat.Config{DB: s.adminDB, IgnoreApplications: []string{migrate.ApplicationName}})
	case rds.Name:
		source, err = cloudwatch.New(ctx, cloudwatch.Config{AWS: awsclient.Settings{Region: a.Config.AWSRegion}})
	}
	if err != nil {
		return err
	}
	if err := s.openSessions(ctx, a); err != nil {
		return err
	}
	s.Migrate, err = migrate.New(migrate.Config{
		DB: a.DB, Redis: a.Redis, Queue: a.Queue, Fleet: a.Config.Name,
		Migrator: migrator, Sessions: s.Sessions, Load: source, Logger: a.Logger,
	})
	return err
}

// newProvider builds the configured instance provider.
func newProvider(ctx context.Context, a Conns) (provider.Provider, error) {
	switch a.Config.Provider {
	case local.Name:
		return local.New(ctx, local.Config{AdminURL: a.Config.LocalAdminURL, Logger: a.Logger})
	case rds.Name:
		return rds.New(ctx, rds.Config{AWS: awsclient.Settings{Region: a.Config.AWSRegion, Endpoint: a.Config.RDSEndpoint}, Logger: a.Logger})
	}
	return nil, fmt.Errorf("unknown provider %q", a.Config.Provider)
}

// newConnector builds the configured provider's connector: each provider
// reaches its own instances with its own credentials, so the local admin
// URL is never sent to an RDS host.
func newConnector(ctx context.Context, a Conns) (provider.Connector, error) {
	switch a.Config.Provider {
	case local.Name:
		// Every concurrent task may hold an admin session on the shared
		// instance (onboarding DDL): the connector's default of 4 per
		// database queued 200 onboardings at once behind each other.
		return local.NewConnector(local.ConnectorConfig{AdminURL: a.Config.LocalAdminURL, MaxConns: int32(a.Config.WorkerConcurrency)})
	case rds.Name:
		return rds.NewConnector(ctx, rds.ConnectorConfig{
			AWS:      awsclient.Settings{Region: a.Config.AWSRegion, Endpoint: a.Config.SecretsManagerEndpoint},
			CABundle: a.Config.RDSCABundle,
			Logger:   a.Logger,
		})
	}
	return nil, fmt.Errorf("unknown provider %q", a.Config.Provider)
}

// openSessions builds the provider's connector and the fleet's sessions on
// instances (once), with the configured secret key or, without one, the key
// kept in the control plane.
func (s *Services) openSessions(ctx context.Context, a Conns) error {
	if s.Sessions != nil {
		return nil
	}
	key, err := a.Config.SecretKeyBytes()
	if err != nil {
		return err
	}
	if key == nil {
		var created bool
		if key, created, err = controlplane.NewStore(a.DB).SecretKey(ctx); err != nil {
			return err
		}
		if created {
			a.Logger.WarnContext(ctx, "FLEET_SECRET_KEY is not set: generated a secret key for tenant logins and kept it in the control plane; set FLEET_SECRET_KEY in production")
		}
	}
	if s.Connector, err = newConnector(ctx, a); err != nil {
		return err
	}
	s.Sessions, err = sessions.New(sessions.Config{Connector: s.Connector, Key: key})
	return err
}

// Close stops what New started; the Conns stay open.
func (s *Services) Close() {
	if s.BatchPools != nil {
		s.BatchPools.Stop()
	}
	if s.Alerts != nil {
		s.Alerts.Stop()
	}
	if s.Router != nil {
		s.Router.Stop()
	}
	if s.Connector != nil {
		s.Connector.Close()
	}
	if s.adminDB != nil {
		s.adminDB.Close()
	}
	if c, ok := s.Provider.(interface{ Close() }); ok {
		c.Close()
	}
}

// RegisterHandlers registers every agent's task handlers on the worker.
func (s *Services) RegisterHandlers(w *queue.Worker) {
	s.Intake.RegisterHandlers(w)
	s.Offboard.RegisterHandlers(w)
	s.Provision.Register(w)
	s.Migrate.Register(w)
	s.Batch.Register(w)
	s.Health.Register(w)
	s.Cost.Register(w)
}

// RegisterSchedules adds the periodic entries to the scheduler. handles
// reports the task types this build's workers handle: the fleet-wide
// entries of the others enqueue nothing.
func (s *Services) RegisterSchedules(cfg config.Config, sched *queue.Scheduler, handles func(string) bool) error {
	return errors.Join(
		s.Intake.RegisterSchedule(sched), s.Migrate.RegisterSchedule(sched), s.Offboard.RegisterSchedule(sched),
		scheduler.Register(sched, scheduler.Config{
			Instances: s.Catalog, HealthInterval: cfg.Schedule.HealthInterval, PoolWatchInterval: cfg.Schedule.PoolWatchInterval,
			CostSchedule: cfg.Schedule.CostSchedule, Handles: handles, Logger: sched.Logger(),
		}),
		s.Batch.RegisterSchedule(sched),
	)
}

// NewScheduler builds the scheduler with every entry registered, asking a
// worker that is never started which task types this build handles.
func (s *Services) NewScheduler(a Conns) (*queue.Scheduler, error) {
	sched, err := queue.NewScheduler(queue.SchedulerConfig{Client: a.Queue, Logger: a.Logger})
	if err != nil {
		return nil, err
	}
	probe, err := queue.NewWorker(queue.WorkerConfig{Redis: a.Redis, Logger: a.Logger})
	if err != nil {
		return nil, err
	}
	s.RegisterHandlers(probe)
	if err := s.RegisterSchedules(a.Config, sched, probe.Handles); err != nil {
		return nil, err
	}
	return sched, nil
}

// RegisterRoutes adds the webhooks and the REST API to the HTTP server;
// log receives the API's failed requests.
func (s *Services) RegisterRoutes(srv *httpapi.Server, log *slog.Logger) error {
	api, err := s.API(log)
	if err != nil {
		return err
	}
	s.Intake.RegisterWebhooks(srv)
	api.Register(srv)
	return nil
}

// API builds the REST API over every agent of New: what `fleet run`
// serves, and what the CLI serves in-process when FLEET_SERVER is not set,
// so both run the same code. log receives the failed requests.
func (s *Services) API(log *slog.Logger) (*restapi.API, error) {
	sched, err := s.NewScheduler(s.conns)
	if err != nil {
		return nil, err
	}
	return restapi.New(restapi.Config{
		Catalog: s.Catalog, Onboarding: s.Intake, Offboarding: s.Offboard, Migrations: s.Migrate, Alerts: s.Alerts,
		Cost: s.Catalog, CostApply: cost.Applier{Store: s.Catalog, Runner: s.Migrate, Provider: s.Provider}, CostAnalyze: s.CostRequests,
		Isolation: s.Provision, Batch: restapi.BatchSource{Agent: s.Batch, Store: s.Catalog},
		Health: s.Catalog, Schedule: sched,
		Operators: s.Operators, Audit: s.Catalog,
		Logger: log,
	}), nil
}
