package provision

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// access reads, on the server, whether id's tenant role exists, whether
// the application role is a member of it, and whether it can log in.
func (e *env) access(id string) (exists, member, login bool) {
	e.t.Helper()
	names, err := tenants.NamesFor(e.fleet, id)
	if err != nil {
		e.t.Fatal(err)
	}
	admin, err := pgx.Connect(e.ctx, e.adminURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer admin.Close(e.ctx)
	err = admin.QueryRow(e.ctx, `SELECT rolcanlogin, pg_has_role($2, oid, 'MEMBER') FROM pg_roles WHERE rolname = $1`,
		names.Role, names.AppRole).Scan(&login, &member)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return true, member, login
}

// waitOffboarding waits until request id is finished and returns it.
func (e *env) waitOffboarding(id int64) offboard.Record {
	e.t.Helper()
	var rec offboard.Record
	eventually.True(e.t, 60*time.Second, "offboarding request finished", func() bool {
		var err error
		rec, err = controlplane.NewStore(e.db).OffboardRequest(e.ctx, id)
		return err == nil && rec.Status.Finished()
	})
	return rec
}

func (e *env) auditCount(tenantID, action, outcome string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND outcome = $3`,
		tenantID, action, outcome).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// Finding 3: an offboarding whose task never reached Redis (the process
// died between its commit and its enqueue, here: Redis unreachable) and
// one whose task a FLUSHDB wiped are both finished by the reconciler; the
// application role is a member of neither tenant role afterwards.
func TestReconcilerFinishesOffboardingsAfterRedisWipe(t *testing.T) {
	e := setup(t)
	e.onboard("never-queued", tenants.Shared)
	e.onboard("wiped-away", tenants.Shared)
	e.onboard("stays-on", tenants.Shared)
	e.onboard("purged-co", tenants.Shared)
	e.offboardNow("purged-co", offboard.ActionArchive)
	if _, member, _ := e.access("never-queued"); !member {
		t.Fatal("before offboarding the application role should be a member of the tenant role")
	}

	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dead.Close() })
	deadOutbox, err := offboard.New(offboard.Config{DB: e.db, Queue: queue.NewClient(dead), Router: e.router, Logger: e.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := deadOutbox.Submit(e.ctx, offboard.Request{TenantID: "never-queued", RequestedBy: "dave"})
	if err != nil {
		t.Fatalf("a stored request is not an error when its enqueue fails: %v", err)
	}
	if lost.Status != offboard.StatusPending {
		t.Errorf("request whose enqueue failed: status %s, want pending", lost.Status)
	}
	// Stored with the tenant's new status and its route invalidated: it is
	// no longer routed.
	if _, err := e.router.Resolve(e.ctx, "never-queued"); !errors.Is(err, tenants.ErrTenantNotActive) {
		t.Errorf("resolve right after the request: %v, want ErrTenantNotActive", err)
	}
	wiped := e.requestOffboard("wiped-away", offboard.ActionDrop)
	if wiped.Status != offboard.StatusEnqueued {
		t.Fatalf("request: status %s, want enqueued", wiped.Status)
	}
	purged := e.requestOffboard("purged-co", offboard.ActionPurge)
	if err := e.rdb.FlushDB(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}

	e.startWorker(2)
	n, err := e.outbox.Reconcile(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("re-enqueued %d, want 3", n)
	}
	for _, id := range []int64{lost.RequestID, wiped.RequestID, purged.RequestID} {
		if rec := e.waitOffboarding(id); rec.Status != offboard.StatusDone {
			t.Fatalf("request %d: %s %q, want done", id, rec.Status, rec.Error)
		}
	}
	if exists, member, login := e.access("never-queued"); !exists || member || login {
		t.Errorf("archived tenant role: exists %v, app role member %v, login %v; want true, false, false", exists, member, login)
	}
	for _, id := range []string{"wiped-away", "purged-co"} {
		if exists, _, _ := e.access(id); exists {
			t.Errorf("%s: role still exists after drop or purge", id)
		}
	}
	_, _, schemas := e.serverState()
	inst, _ := e.catalog.GetInstance(e.ctx, SharedInstanceID(1))
	for _, s := range schemas[inst.Database] {
		if strings.Contains(s, "purged_co") || strings.Contains(s, "wiped_away") {
			t.Errorf("schema %s survived its drop or purge", s)
		}
	}
	for _, id := range []string{"never-queued", "wiped-away"} {
		if got := e.tenantStatus(id); got != tenants.TenantOffboarded {
			t.Errorf("%s: status %s, want offboarded", id, got)
		}
		if got := e.auditCount(id, ActionOffboard, "accepted"); got != 1 {
			t.Errorf("%s: %d accepted audit entries, want 1", id, got)
		}
		if got := e.auditCount(id, ActionOffboard, "done"); got != 1 {
			t.Errorf("%s: %d done audit entries, want 1", id, got)
		}
	}
	if _, member, _ := e.access("stays-on"); !member {
		t.Error("the remaining tenant lost its membership")
	}
	if n, err := e.outbox.Reconcile(e.ctx); err != nil || n != 0 {
		t.Errorf("second pass: re-enqueued %d (%v), want 0", n, err)
	}
}

// A worker killed (or panicking) on the task's last attempt leaves the task
// archived with no outcome recorded: the reconciler marks the request
// failed, visibly, and a new request finishes the offboarding.
func TestReconcilerFailsOffboardingWhoseTaskEndedWithoutOutcome(t *testing.T) {
	e := setup(t)
	e.onboard("stuck-co", tenants.Shared)
	acc := e.requestOffboard("stuck-co", offboard.ActionArchive)
	// What asynq's recoverer does with the lease-expired task of a worker
	// SIGKILLed on its last attempt.
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	if err := insp.ArchiveTask(queue.QueueCritical, acc.TaskID); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	out, err := offboard.New(offboard.Config{DB: e.db, Queue: e.queue, Redis: e.rdb, Config: outbox.Config{ReconcileMinAge: -1}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := out.Reconcile(e.ctx); err != nil || n != 0 {
		t.Fatalf("reconcile: %d, %v; want 0 re-enqueued", n, err)
	}
	rec, _ := controlplane.NewStore(e.db).OffboardRequest(e.ctx, acc.RequestID)
	if rec.Status != offboard.StatusFailed || !strings.Contains(rec.Error, "without an outcome") {
		t.Errorf("request: %s %q, want failed: ended without an outcome", rec.Status, rec.Error)
	}
	if !hasLine(e.logs.String(), `"level":"ERROR"`, `"alert":"tenant_offboard_failed"`, `"tenant":"stuck-co"`) {
		t.Errorf("no alert line in:\n%s", e.logs.String())
	}
	tn, _ := e.catalog.GetTenant(e.ctx, "stuck-co")
	if tn.Status != tenants.TenantOffboarding || !strings.Contains(tn.StatusReason, "failed") {
		t.Errorf("tenant: %s %q, want offboarding with the failure as reason", tn.Status, tn.StatusReason)
	}
	if got := e.auditCount("stuck-co", ActionOffboard, "failed"); got != 1 {
		t.Errorf("failed audit entries: %d, want 1", got)
	}

	again := e.offboardNow("stuck-co", offboard.ActionArchive)
	if again.RequestID == acc.RequestID || again.Duplicate {
		t.Errorf("retry joined the failed request %d: %+v", acc.RequestID, again)
	}
	if got := e.tenantStatus("stuck-co"); got != tenants.TenantOffboarded {
		t.Errorf("after the new request: %s, want offboarded", got)
	}
	if _, member, _ := e.access("stuck-co"); member {
		t.Error("application role still a member after the retry")
	}
}

// Errors on the task's last attempt mark the request failed at once (the
// handler records the outcome itself).
func TestOffboardFailsVisiblyOnLastAttempt(t *testing.T) {
	e := setup(t)
	e.onboard("unreachable", tenants.Shared)
	inst, err := e.catalog.GetInstance(e.ctx, SharedInstanceID(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(e.ctx, `UPDATE instances SET port = 1 WHERE id = $1`, inst.ID); err != nil {
		t.Fatal(err)
	}
	out, err := offboard.New(offboard.Config{DB: e.db, Queue: e.queue, Redis: e.rdb, Config: outbox.Config{MaxRetry: -1}, Logger: e.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(1)
	acc, err := out.Submit(e.ctx, offboard.Request{TenantID: "unreachable", RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	rec := e.waitOffboarding(acc.RequestID)
	if rec.Status != offboard.StatusFailed || rec.Error == "" {
		t.Errorf("request: %s %q, want failed with a reason", rec.Status, rec.Error)
	}
	eventually.True(e.t, 10*time.Second, "alert line", func() bool {
		return hasLine(e.logs.String(), `"alert":"tenant_offboard_failed"`, `"tenant":"unreachable"`)
	})
	if strings.Contains(rec.Error, "password") {
		t.Errorf("failure reason mentions a password: %q", rec.Error)
	}

	if _, err := e.db.Exec(e.ctx, `UPDATE instances SET port = $2 WHERE id = $1`, inst.ID, inst.Port); err != nil {
		t.Fatal(err)
	}
	again, err := out.Submit(e.ctx, offboard.Request{TenantID: "unreachable", RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := e.waitOffboarding(again.RequestID); rec.Status != offboard.StatusDone {
		t.Errorf("retry: %s %q, want done", rec.Status, rec.Error)
	}
}

// A worker killed after the data step but before the outcome is recorded
// finishes on retry: one archive, one done audit entry.
func TestOffboardCrashAfterDataStepFinishesOnRetry(t *testing.T) {
	crash := true
	e := setup(t, func(c *Config) {
		c.afterStep = func(step string) error {
			if step == offboardStepData && crash {
				return errors.New("killed after the data step")
			}
			return nil
		}
	})
	e.onboard("half-gone", tenants.Shared)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	e.agent.cfg.Now = func() time.Time { return now }
	acc := e.requestOffboard("half-gone", offboard.ActionArchive)
	if err := e.agent.HandleOffboard(e.ctx, offboardTask(t, acc)); err == nil {
		t.Fatal("want the injected crash")
	}
	crash = false
	// The day turned meanwhile: the retry keeps the name it planned.
	e.agent.cfg.Now = func() time.Time { return now.Add(24 * time.Hour) }
	if err := e.agent.HandleOffboard(e.ctx, offboardTask(t, acc)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	_, _, schemas := e.serverState()
	inst, _ := e.catalog.GetInstance(e.ctx, SharedInstanceID(1))
	if got, want := schemas[inst.Database], []string{"archived_t_half_gone_20261126"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("schemas: %v, want %v", got, want)
	}
	if got := e.auditCount("half-gone", ActionOffboard, "done"); got != 1 {
		t.Errorf("done audit entries: %d, want 1", got)
	}
}

// A tenant:offboard task enqueued by a fleet without the outbox (no
// request id) is recorded and carried out.
func TestOffboardTaskOfOlderFleetIsRecorded(t *testing.T) {
	e := setup(t)
	e.onboard("old-style", tenants.Shared)
	task, err := queue.NewTask(queue.TypeTenantOffboard, queue.OffboardPayload{TenantID: "old-style", RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.agent.HandleOffboard(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := e.agent.HandleOffboard(e.ctx, task); err != nil {
		t.Fatalf("again: %v", err)
	}
	if got := e.tenantStatus("old-style"); got != tenants.TenantOffboarded {
		t.Errorf("status %s, want offboarded", got)
	}
	var n int
	_ = e.db.QueryRow(e.ctx, `SELECT count(*) FROM offboard_requests WHERE tenant_id = 'old-style' AND status = 'done'`).Scan(&n)
	if n != 1 {
		t.Errorf("done requests recorded: %d, want 1", n)
	}
}
