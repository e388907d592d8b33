package provision

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// env is one test's fleet: its own control plane, Redis database, fleet
// name (roles) and local instances (databases), all removed at the end.
type env struct {
	t        *testing.T
	ctx      context.Context
	fleet    string
	adminURL string
	db       *pgxpool.Pool
	rdb      *redis.Client
	queue    *queue.Client
	catalog  *controlplane.Store
	router   *tenants.Router
	intake   *intake.Intake
	outbox   *offboard.Outbox
	provider provider.Provider
	sessions *sessions.Sessions
	agent    *Agent
	logs     *cptest.SyncBuffer
	cfg      Config
	// waits counts onboardings that returned to wait for an instance.
	waits int
}

func setup(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	ctx := t.Context()
	_, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	e := &env{t: t, ctx: ctx, fleet: cptest.UniqueName("p"), db: db, rdb: rdb, logs: &cptest.SyncBuffer{}}
	e.adminURL = config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	// Registered before the cleanup that closes the provider and connector,
	// so it runs after them.
	cptest.DropFleetOnCleanup(t, e.fleet)
	e.queue = queue.NewClient(rdb)
	e.catalog = controlplane.NewStore(db)
	var err error
	e.router, err = tenants.NewRouter(tenants.RouterConfig{Source: e.catalog, Redis: rdb, Fleet: e.fleet})
	if err != nil {
		t.Fatal(err)
	}
	e.intake, err = intake.New(intake.Config{DB: db, Queue: e.queue, TicketSecret: "test-secret",
		Config: outbox.Config{ReconcileMinAge: -1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.outbox, err = offboard.New(offboard.Config{DB: db, Queue: e.queue, Redis: rdb, Router: e.router,
		Config: outbox.Config{ReconcileMinAge: -1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := local.New(ctx, local.Config{AdminURL: e.adminURL})
	if err != nil {
		t.Fatal(err)
	}
	e.provider = prov
	e.sessions = sessionstest.Local(t, e.adminURL)
	mig, err := migrations.New(migrations.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{
		DB: db, Queue: e.queue, Catalog: e.catalog, Router: e.router, Intake: e.intake,
		Provider: prov, Sessions: e.sessions, Migrator: mig, Fleet: e.fleet,
		CheckDelay: 50 * time.Millisecond, PlacementPoll: 10 * time.Millisecond,
		// Handlers called directly do not wait for instances: the helpers
		// run instance:create themselves. Worker tests set a wait.
		PlacementWait: -1,
		Logger:        cptest.DiscardLogger(),
	}
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.agent, err = New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prov.Close)
	return e
}

// startWorker runs the agent on a real worker until the test ends.
func (e *env) startWorker(concurrency int) {
	e.t.Helper()
	logger := e.taskLogger()
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Concurrency: concurrency,
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: logger})
	if err != nil {
		e.t.Fatal(err)
	}
	e.agent.Register(w)
	e.outbox.RegisterHandlers(w)
	if err := w.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
}

// submit stores an onboarding request (and enqueues its task).
func (e *env) submit(id string, tier tenants.Tier) intake.Accepted {
	e.t.Helper()
	acc, err := e.intake.Submit(e.ctx, intake.Request{Source: intake.SourceAPI, TenantID: id, Tier: tier,
		RequestedBy: "alice", TicketKey: "TCK-" + id})
	if err != nil {
		e.t.Fatalf("submit %s: %v", id, err)
	}
	return acc
}

// onboardTask is the task the intake enqueued for acc.
func onboardTask(t *testing.T, acc intake.Accepted) *asynq.Task {
	t.Helper()
	task, err := queue.NewTask(queue.TypeTenantOnboard, queue.OnboardPayload{RequestID: acc.RequestID, TenantID: acc.TenantID})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// onboard onboards id by calling the handler directly (no worker). Shared
// instances are created inline by running the queued instance:create.
func (e *env) onboard(id string, tier tenants.Tier) intake.Accepted {
	e.t.Helper()
	acc := e.submit(id, tier)
	e.runOnboarding(acc)
	return acc
}

// runOnboarding runs acc's onboarding by calling the handler directly,
// running instance:create for the instances it waits for.
func (e *env) runOnboarding(acc intake.Accepted) {
	e.t.Helper()
	id := acc.TenantID
	for range 5 {
		err := e.agent.HandleOnboard(e.ctx, onboardTask(e.t, acc))
		if err == nil {
			return
		}
		if !errors.Is(err, ErrWaitingForInstance) {
			e.t.Fatalf("onboard %s: %v", id, err)
		}
		if !errors.As(err, new(*queue.NotReadyError)) {
			e.t.Fatalf("onboard %s: waiting returned %v, want a queue.NotReadyError so the wait keeps the retry budget", id, err)
		}
		e.waits++
		e.runCreating()
	}
	e.t.Fatalf("onboard %s: still waiting for an instance", id)
}

// runCreating runs instance:create for every instance still creating, as a
// worker would.
func (e *env) runCreating() {
	e.t.Helper()
	insts, err := e.catalog.ListInstances(e.ctx, controlplane.InstanceFilter{Status: provider.StatusCreating})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, inst := range insts {
		task, _ := queue.NewTask(queue.TypeInstanceCreate, queue.InstancePayload{InstanceID: inst.ID})
		if err := e.agent.HandleInstanceCreate(e.ctx, task); err != nil {
			e.t.Fatalf("instance:create %s: %v", inst.ID, err)
		}
	}
}

func (e *env) tenantStatus(id string) tenants.TenantStatus {
	tn, err := e.catalog.GetTenant(e.ctx, id)
	if err != nil {
		return ""
	}
	return tn.Status
}

func (e *env) waitActive(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		eventually.True(e.t, 60*time.Second, id+" active", func() bool { return e.tenantStatus(id) == tenants.TenantActive })
	}
}

// pools returns tenant pools logging in as the application role.
func (e *env) pools() *tenants.Pools {
	e.t.Helper()
	p, err := tenants.NewPools(tenants.PoolsConfig{Resolver: e.router, Fleet: e.fleet, PoolSize: 2, AcquireTimeout: 5 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Stop)
	return p
}

// serverState lists what exists on the server for the fleet: instance
// databases, roles, and per database the tenant schemas (t_* and
// archived_*).
func (e *env) serverState() (dbs, roles []string, schemas map[string][]string) {
	e.t.Helper()
	admin, err := pgx.Connect(e.ctx, e.adminURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer admin.Close(e.ctx)
	rows, _ := admin.Query(e.ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1 || '\_inst\_%' ORDER BY 1`, e.fleet)
	dbs, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	rows, _ = admin.Query(e.ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '\_%' ORDER BY 1`, e.fleet)
	roles, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	schemas = map[string][]string{}
	for _, d := range dbs {
		c, err := pgx.Connect(e.ctx, config.WithDatabase(e.adminURL, d))
		if err != nil {
			e.t.Fatal(err)
		}
		rows, _ := c.Query(e.ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\_%' OR nspname LIKE 'archived\_%' ORDER BY 1`)
		s, err := pgx.CollectRows(rows, pgx.RowTo[string])
		c.Close(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		schemas[d] = s
	}
	return dbs, roles, schemas
}

// taskLogger is a logger writing JSON lines to the test's log buffer, for
// handlers called directly (queue.WithLogger), as the worker's would.
func (e *env) taskLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// provisionDone counts tenantID's tenant.provision done audit entries.
func (e *env) provisionDone(tenantID string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND outcome = 'done'`,
		tenantID, ActionProvision).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// countLines counts the log lines holding every part.
func countLines(logs string, parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		if line != "" && hasLine(line, parts...) {
			n++
		}
	}
	return n
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func hasLine(logs string, parts ...string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok && line != "" {
			return true
		}
	}
	return false
}

// requestOffboard stores an offboarding (or purge) request for id through
// the outbox, which also enqueues its task.
func (e *env) requestOffboard(id string, action offboard.Action) offboard.Accepted {
	e.t.Helper()
	acc, err := e.outbox.Submit(e.ctx, offboard.Request{TenantID: id, Action: action, RequestedBy: "dave"})
	if err != nil {
		e.t.Fatalf("%s %s: %v", action, id, err)
	}
	return acc
}

// offboardTask is the task the outbox enqueued for acc.
func offboardTask(t *testing.T, acc offboard.Accepted) *asynq.Task {
	t.Helper()
	task, err := queue.NewTask(offboard.TaskType(acc.Action), queue.OffboardPayload{RequestID: acc.RequestID, TenantID: acc.TenantID,
		Drop: acc.Action.Destroys(), RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// offboardNow requests an offboarding (or purge) of id and runs its task
// by calling the handler directly (no worker).
func (e *env) offboardNow(id string, action offboard.Action) offboard.Accepted {
	e.t.Helper()
	acc := e.requestOffboard(id, action)
	if err := e.agent.HandleOffboard(e.ctx, offboardTask(e.t, acc)); err != nil {
		e.t.Fatalf("%s %s: %v", action, id, err)
	}
	return acc
}
