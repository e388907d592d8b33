package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/sessions/sessionstest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

const token = "restapi-test-token-123"

// fixture is one test's API over its own scratch control plane and Redis
// database, served by a real HTTP server. Migrations are mounted, but
// agents/migrate tests them with its runner fixtures.
type fixture struct {
	db       *pgxpool.Pool // untraced: for the test's own checks
	traced   *pgxpool.Pool // the API's dependencies run on it
	rdb      *redis.Client
	catalog  *controlplane.Store
	intake   *intake.Intake
	offboard *offboard.Outbox
	alerts   *alerts.Engine
	ops      *operators.Service
	insp     *asynq.Inspector
	touched  *cptest.StatementCounter
	logs     *cptest.SyncBuffer
	base     string
	rest     *API
}

func setup(t *testing.T) *fixture {
	t.Helper()
	url, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	f := &fixture{db: db, rdb: rdb, touched: &cptest.StatementCounter{}, logs: &cptest.SyncBuffer{}}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = f.touched
	if f.traced, err = pgxpool.NewWithConfig(context.Background(), pcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.traced.Close)
	qc := queue.NewClient(rdb)
	t.Cleanup(func() { _ = qc.Close() })
	discard := cptest.DiscardLogger()
	if f.intake, err = intake.New(intake.Config{DB: f.traced, Queue: qc,
		Config: outbox.Config{ReconcileMinAge: -1, WaitPoll: 10 * time.Millisecond}, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if f.offboard, err = offboard.New(offboard.Config{DB: f.traced, Queue: qc, Redis: rdb, Config: outbox.Config{ReconcileMinAge: -1}, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	f.catalog = controlplane.NewStore(f.traced)
	if f.alerts, err = alerts.New(alerts.Config{Store: f.catalog, Fleet: "tf", Logger: discard}); err != nil {
		t.Fatal(err)
	}
	f.ops = operators.New(operators.Config{Store: controlplane.NewStore(db), PasswordCost: auth.MinPasswordCost, Logger: discard})
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Authenticator: f.ops, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	migrator, err := migrations.New(migrations.Config{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := migrate.New(migrate.Config{DB: f.traced, Redis: rdb, Queue: qc, Fleet: "tf", Migrator: migrator,
		Sessions: sessionstest.Local(t, cptest.ServerConfig(t).DatabaseURL), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := batch.New(batch.Config{Store: f.catalog, Kinds: []batch.Kind{batch.ComplianceSnapshot()}, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	f.rest = New(Config{Catalog: f.catalog, Onboarding: f.intake, Offboarding: f.offboard,
		Alerts: f.alerts, Cost: f.catalog, CostApply: cost.Applier{Store: f.catalog, Runner: runner},
		Batch: BatchSource{Agent: agent, Store: f.catalog}, Health: f.catalog, Migrations: runner,
		CostAnalyze: cost.Requester{Store: f.catalog, Queue: qc},
		Operators:   f.ops, Audit: f.catalog, Logger: slogJSON(f.logs)})
	f.rest.Register(srv)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	f.insp = asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = f.insp.Close() })
	f.base = "http://" + srv.Addr()
	return f
}

// answer is a decoded HTTP answer.
type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (a answer) str(key string) string { s, _ := a.Body[key].(string); return s }

// call sends method path with body (JSON when not empty), the token when
// auth, and header, and decodes the answer.
func (f *fixture) call(t *testing.T, method, path, body string, auth bool, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.base+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: buf.String()}
	_ = json.Unmarshal(buf.Bytes(), &a.Body)
	return a
}

// api sends an authenticated request.
func (f *fixture) api(t *testing.T, method, path, body string) answer {
	t.Helper()
	return f.call(t, method, path, body, true, nil)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tenant creates a catalog tenant with status.
func (f *fixture) tenant(t *testing.T, id string, status tenants.TenantStatus) {
	t.Helper()
	if _, err := controlplane.NewStore(f.db).CreateTenant(t.Context(), controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: status}); err != nil {
		t.Fatal(err)
	}
}

// count runs a count query on the untraced pool.
func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// criticalTasks lists the ids of the tasks pending on the critical queue.
func (f *fixture) criticalTasks(t *testing.T) []string {
	t.Helper()
	infos, err := f.insp.ListPendingTasks(queue.QueueCritical, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("list pending tasks: %v", err)
	}
	ids := make([]string, 0, len(infos))
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	return ids
}

// slogJSON logs JSON lines to w.
func slogJSON(w *cptest.SyncBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// pgxpoolNewLazy opens a pool that connects on first use.
func pgxpoolNewLazy(t *testing.T, url string) (*pgxpool.Pool, error) {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err == nil {
		t.Cleanup(p.Close)
	}
	return p, err
}
