package restapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Catalog reads the tenants and instances (*controlplane.Store).
type Catalog interface {
	ListTenants(ctx context.Context, f controlplane.TenantFilter) ([]controlplane.Tenant, error)
	GetTenant(ctx context.Context, id string) (controlplane.Tenant, error)
	ListInstances(ctx context.Context, f controlplane.InstanceFilter) ([]controlplane.Instance, error)
	CountTenants(ctx context.Context) (map[string]int, error)
}

// Onboarding takes and reads onboarding requests (*intake.Intake).
type Onboarding interface {
	Submit(ctx context.Context, r intake.Request) (intake.Accepted, error)
	Get(ctx context.Context, id int64) (intake.Record, error)
	Retry(ctx context.Context, tenantID, by string) (intake.Accepted, error)
}

// Offboarding takes and reads offboarding requests (*offboard.Outbox).
type Offboarding interface {
	Submit(ctx context.Context, r offboard.Request) (offboard.Accepted, error)
	Get(ctx context.Context, id int64) (offboard.Record, error)
}

// Migrations starts, reads and retries migration runs (*migrate.Runner).
type Migrations interface {
	StartOnce(ctx context.Context, key string, spec migrate.Spec) (migrate.Started, error)
	LatestRun(ctx context.Context) (int64, error)
	Status(ctx context.Context, runID int64) (migrate.RunStatus, error)
	Progress(ctx context.Context, runID int64) (migrate.RunStatus, error)
	Retry(ctx context.Context, runID int64) (int, error)
}

// Config says what the API serves. A resource whose dependency is nil is
// not mounted (a test serving one resource); `fleet run` sets them all.
type Config struct {
	// Catalog serves /api/v1/tenants (GET) and /api/v1/instances.
	Catalog Catalog
	// Onboarding serves POST /api/v1/tenants, its retry and
	// /api/v1/intake/{id}.
	Onboarding Onboarding
	// Offboarding serves offboard, purge and /api/v1/offboardings/{id}.
	Offboarding Offboarding
	// Migrations serves /api/v1/migrations.
	Migrations Migrations
	// Alerts serves /api/v1/alerts and /api/v1/silences.
	Alerts Alerts
	// Cost serves /api/v1/recommendations and /api/v1/cost.
	Cost Cost
	// CostApply serves POST /api/v1/recommendations/{id}/apply and
	// /dismiss.
	CostApply CostApply
	// Isolation serves POST /api/v1/tenants/{id}/isolation.
	Isolation Isolation
	// Batch serves GET /api/v1/batch and /api/v1/batch/runs.
	Batch Batch
	// Health serves GET /api/v1/health.
	Health Health
	// Schedule serves GET /api/v1/schedule.
	Schedule Schedule
	// CostAnalyze serves POST /api/v1/cost/analyze.
	CostAnalyze CostAnalyze
	// Operators serves /api/v1/users and /api/v1/tokens.
	Operators Operators
	// Audit records the actions whose agents do not audit them
	// (acknowledgements, silences, migration runs, applied
	// recommendations), naming the principal. Nil: not recorded.
	Audit Auditor
	// MaxBodyBytes bounds a request body; larger bodies get 413. Default
	// 1 MiB.
	MaxBodyBytes int64
	// Logger receives the failed (5xx) requests. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is the default of Config.MaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// Request headers the API reads.
const (
	// HeaderRequestedBy names the person behind a request, for the record.
	HeaderRequestedBy = "X-Requested-By"
	// HeaderIdempotencyKey makes retries of a POST collapse into one
	// onboarding request or one migration run.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// API serves /api/v1: every resource, one error mapping (errorStatus), the
// JSON views of views.go. It is safe for concurrent use.
type API struct {
	cfg Config
	log *slog.Logger
}

// New returns the API over cfg's dependencies.
func New(cfg Config) *API {
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &API{cfg: cfg, log: cfg.Logger}
}

// route is one /api/v1 route: its "METHOD /path" pattern and handler.
type route struct {
	pattern string
	serve   func(*API, http.ResponseWriter, *http.Request)
}

// routes lists the routes of every configured resource; each is an
// operation of docs/openapi.yaml.
func (a *API) routes() []route {
	var out []route
	if a.cfg.Catalog != nil {
		out = append(out,
			route{"GET /api/v1/tenants", (*API).listTenants},
			route{"GET /api/v1/tenants/{id}", (*API).getTenant},
			route{"GET /api/v1/instances", (*API).listInstances})
	}
	if a.cfg.Onboarding != nil {
		out = append(out,
			route{"POST /api/v1/tenants", (*API).submitOnboarding},
			route{"POST /api/v1/tenants/{id}/retry", (*API).retryOnboarding},
			route{"GET /api/v1/intake/{id}", (*API).getOnboarding})
	}
	if a.cfg.Offboarding != nil {
		out = append(out,
			route{"POST /api/v1/tenants/{id}/offboard", (*API).offboard},
			route{"POST /api/v1/tenants/{id}/purge", (*API).purge},
			route{"GET /api/v1/offboardings/{id}", (*API).getOffboarding})
	}
	if a.cfg.Migrations != nil {
		out = append(out,
			route{"POST /api/v1/migrations", (*API).startMigration},
			route{"GET /api/v1/migrations/latest", (*API).latestMigration},
			route{"GET /api/v1/migrations/{id}", (*API).getMigration},
			route{"POST /api/v1/migrations/{id}/retry", (*API).retryMigration})
	}
	if a.cfg.Alerts != nil {
		out = append(out,
			route{"GET /api/v1/alerts", (*API).listAlerts},
			route{"GET /api/v1/alerts/{id}", (*API).getAlert},
			route{"POST /api/v1/alerts/{id}/ack", (*API).ackAlert},
			route{"GET /api/v1/silences", (*API).listSilences},
			route{"POST /api/v1/silences", (*API).createSilence})
	}
	if a.cfg.Cost != nil {
		out = append(out,
			route{"GET /api/v1/recommendations", (*API).listRecommendations},
			route{"GET /api/v1/recommendations/{id}", (*API).getRecommendation},
			route{"GET /api/v1/cost", (*API).getCost})
	}
	if a.cfg.CostApply != nil {
		out = append(out, route{"POST /api/v1/recommendations/{id}/apply", (*API).applyRecommendation},
			route{"POST /api/v1/recommendations/{id}/dismiss", (*API).dismissRecommendation})
	}
	if a.cfg.Operators != nil {
		out = append(out,
			route{"GET /api/v1/users", (*API).listUsers},
			route{"POST /api/v1/users", (*API).addUser},
			route{"POST /api/v1/users/{name}/disable", (*API).disableUser},
			route{"GET /api/v1/tokens", (*API).listTokens},
			route{"POST /api/v1/tokens", (*API).createToken},
			route{"DELETE /api/v1/tokens/{name}", (*API).revokeToken})
	}
	if a.cfg.Isolation != nil {
		out = append(out, route{"POST /api/v1/tenants/{id}/isolation", (*API).setIsolation})
	}
	if a.cfg.Batch != nil {
		out = append(out,
			route{"GET /api/v1/batch", (*API).listBatch},
			route{"GET /api/v1/batch/runs", (*API).listBatchRuns})
	}
	if a.cfg.Health != nil {
		out = append(out, route{"GET /api/v1/health", (*API).getHealth})
	}
	if a.cfg.Schedule != nil {
		out = append(out, route{"GET /api/v1/schedule", (*API).listSchedule})
	}
	if a.cfg.CostAnalyze != nil {
		out = append(out,
			route{"POST /api/v1/cost/analyze", (*API).requestAnalysis},
			route{"GET /api/v1/cost/analyze", (*API).analysisStatus})
	}
	return out
}

// Register mounts the routes on srv behind authentication (httpapi's
// HandleAPI: a principal in the context, operators only for writes,
// same-origin and CSRF for browser credentials, JSON bodies), each with a
// request id.
func (a *API) Register(srv *httpapi.Server) {
	for _, rt := range a.routes() {
		srv.HandleAPI(rt.pattern, a.handler(rt))
	}
}

// Handler serves the same routes without the HTTP front's token check:
// for a caller that authenticated the request itself and put its
// auth.Principal in the request context (the CLI, which serves its own
// commands in-process over the control-plane credentials).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, a.handler(rt))
	}
	return mux
}

// handler is one route's handler with its request id.
func (a *API) handler(rt route) http.Handler {
	serve := rt.serve
	return withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(a, w, r) }))
}
