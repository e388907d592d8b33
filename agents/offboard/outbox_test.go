package offboard

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
)

type env struct {
	ctx     context.Context
	db      *pgxpool.Pool
	rdb     *redis.Client
	out     *Outbox
	catalog *controlplane.Store
}

func setup(t *testing.T) *env {
	t.Helper()
	_, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	out, err := New(Config{DB: db, Queue: queue.NewClient(rdb), Redis: rdb, Config: outbox.Config{ReconcileMinAge: -1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: t.Context(), db: db, rdb: rdb, out: out, catalog: controlplane.NewStore(db)}
}

func (e *env) tenant(t *testing.T, id string, status tenants.TenantStatus) {
	t.Helper()
	if _, err := e.catalog.CreateTenant(e.ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: status}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) status(t *testing.T, id string) tenants.TenantStatus {
	t.Helper()
	tn, err := e.catalog.GetTenant(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return tn.Status
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// finish marks a request done as the provisioning agent would, with the
// tenant offboarded.
func (e *env) finish(t *testing.T, id int64, tenantID string) {
	t.Helper()
	tx, err := e.db.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx) //nolint:errcheck // after commit
	if _, err := tx.Exec(e.ctx, `UPDATE tenants SET status = 'offboarded' WHERE id = $1`, tenantID); err != nil {
		t.Fatal(err)
	}
	if err := MarkDoneTx(e.ctx, tx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSubmitStoresMarksAuditsAndEnqueues(t *testing.T) {
	e := setup(t)
	e.tenant(t, "acme", tenants.TenantActive)
	acc, err := e.out.Submit(e.ctx, Request{TenantID: "acme", RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Action != ActionArchive || acc.Status != StatusEnqueued || acc.Duplicate || acc.TaskID != TaskID(acc.RequestID) {
		t.Errorf("accepted %+v", acc)
	}
	if got := e.status(t, "acme"); got != tenants.TenantOffboarding {
		t.Errorf("tenant status %s, want offboarding", got)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = 'acme' AND action = $1 AND outcome = 'accepted' AND actor = 'dave'`, AuditOffboard); n != 1 {
		t.Errorf("accepted audit entries: %d, want 1", n)
	}
	info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(queue.QueueCritical, acc.TaskID)
	if err != nil {
		t.Fatalf("task %s: %v", acc.TaskID, err)
	}
	var p queue.OffboardPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil || p.RequestID != acc.RequestID || p.TenantID != "acme" || p.Drop {
		t.Errorf("payload %s (%v)", info.Payload, err)
	}
	if info.Type != queue.TypeTenantOffboard || info.MaxRetry != DefaultMaxRetry {
		t.Errorf("task %s max retry %d", info.Type, info.MaxRetry)
	}

	// Repeats, concurrent or not, join it.
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Go(func() {
			a, err := e.out.Submit(e.ctx, Request{TenantID: "acme", RequestedBy: "dave"})
			if err != nil || !a.Duplicate {
				t.Errorf("repeat: %+v, %v", a, err)
			}
			ids[i] = a.RequestID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != acc.RequestID {
			t.Errorf("repeat stored request %d, want %d", id, acc.RequestID)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM offboard_requests`); n != 1 {
		t.Errorf("requests stored: %d, want 1", n)
	}
	if _, err := e.out.Submit(e.ctx, Request{TenantID: "acme", Action: ActionDrop}); !errors.Is(err, ErrConflict) {
		t.Errorf("drop while an archive is in flight: %v, want ErrConflict", err)
	}

	e.finish(t, acc.RequestID, "acme")
	again, err := e.out.Submit(e.ctx, Request{TenantID: "acme"})
	if err != nil || !again.Duplicate || again.RequestID != acc.RequestID || again.Status != StatusDone {
		t.Errorf("archive after done: %+v, %v; want the done request as a duplicate", again, err)
	}
	if _, err := e.out.Submit(e.ctx, Request{TenantID: "acme", Action: ActionDrop}); !errors.Is(err, ErrConflict) {
		t.Errorf("drop of an archived tenant: %v, want ErrConflict (purge it)", err)
	}
	purge, err := e.out.Submit(e.ctx, Request{TenantID: "acme", Action: ActionPurge, RequestedBy: "erin"})
	if err != nil || purge.Duplicate || purge.Action != ActionPurge {
		t.Fatalf("purge: %+v, %v", purge, err)
	}
	if info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(queue.QueueCritical, purge.TaskID); err != nil || info.Type != queue.TypeTenantPurge {
		t.Errorf("purge task: %v %v", info, err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = 'acme' AND action = $1 AND outcome = 'accepted'`, AuditPurge); n != 1 {
		t.Errorf("purge audit entries: %d, want 1", n)
	}
}

func TestSubmitRefusals(t *testing.T) {
	e := setup(t)
	e.tenant(t, "busy-co", tenants.TenantProvisioning)
	e.tenant(t, "live-co", tenants.TenantActive)
	for _, c := range []struct {
		name string
		r    Request
		want error
	}{
		{"invalid id", Request{TenantID: "Robert'); DROP TABLE tenants;--"}, ErrInvalidRequest},
		{"unknown action", Request{TenantID: "live-co", Action: "shred"}, ErrInvalidRequest},
		{"control characters", Request{TenantID: "live-co", RequestedBy: "eve\n2026 INFO forged"}, ErrInvalidRequest},
		{"unknown tenant", Request{TenantID: "nobody"}, tenants.ErrTenantNotFound},
		{"being onboarded", Request{TenantID: "busy-co"}, ErrConflict},
		{"purge of an active tenant", Request{TenantID: "live-co", Action: ActionPurge}, ErrConflict},
	} {
		if _, err := e.out.Submit(e.ctx, c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM offboard_requests`); n != 0 {
		t.Errorf("refused requests stored %d rows", n)
	}
	if got := e.status(t, "live-co"); got != tenants.TenantActive {
		t.Errorf("refused purge changed the tenant to %s", got)
	}
}

// A request stored while Redis was unreachable is enqueued by the
// reconciler; a second pass adds nothing.
func TestReconcileEnqueuesWhatNeverReachedRedis(t *testing.T) {
	e := setup(t)
	e.tenant(t, "acme", tenants.TenantActive)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	down, err := New(Config{DB: e.db, Queue: queue.NewClient(dead), Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := down.Submit(e.ctx, Request{TenantID: "acme"})
	if err != nil || acc.Status != StatusPending {
		t.Fatalf("submit with Redis down: %+v, %v; want stored, pending", acc, err)
	}
	if n, err := e.out.Reconcile(e.ctx); err != nil || n != 1 {
		t.Fatalf("reconcile: %d, %v; want 1", n, err)
	}
	rec, _ := e.out.Get(e.ctx, acc.RequestID)
	if rec.Status != StatusEnqueued || rec.Attempts != 1 {
		t.Errorf("request: %s after %d enqueues, want enqueued after 1", rec.Status, rec.Attempts)
	}
	if n, err := e.out.Reconcile(e.ctx); err != nil || n != 0 {
		t.Errorf("second pass: %d, %v; want 0", n, err)
	}
}
