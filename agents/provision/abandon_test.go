package provision

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestPanicOnLastAttemptFailsTenantAndRequest: a handler that panics on
// its task's last attempt still fails the onboarding, instead of leaving
// the request enqueued (and its tenant blocked) once Asynq archives it.
func TestPanicOnLastAttemptFailsTenantAndRequest(t *testing.T) {
	e := setup(t, withWait, func(c *Config) {
		c.afterStep = func(step string) error {
			if step == StepEnsure {
				panic("injected: nil map in a step")
			}
			return nil
		}
	})
	// No retry: the first attempt is the last.
	in, err := intake.New(intake.Config{DB: e.db, Queue: e.queue, Config: outbox.Config{MaxRetry: -1}, Logger: e.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(2)
	acc, err := in.Submit(e.ctx, intake.Request{TenantID: "panicky", TicketKey: "TCK-P", RequestedBy: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	rec, err := e.intake.Wait(ctx, acc.RequestID)
	if err != nil {
		t.Fatalf("request never finished after a panic on the last attempt: %v (status %s)", err, rec.Status)
	}
	if rec.Status != intake.StatusFailed || !strings.Contains(rec.Error, "panicked") {
		t.Errorf("request: got %s %q, want failed naming the panic", rec.Status, rec.Error)
	}
	if tn, _ := e.catalog.GetTenant(e.ctx, "panicky"); tn.Status != tenants.TenantFailed {
		t.Errorf("tenant: got %s, want failed", tn.Status)
	}
	eventually.True(e.t, 10*time.Second, "alert line", func() bool {
		return hasLine(e.logs.String(), `"level":"ERROR"`, `"alert":"tenant_onboard_failed"`, `"tenant":"panicky"`)
	})
	if !hasLine(e.logs.String(), `"msg":"onboarding panicked"`, `"stack":`) {
		t.Errorf("no log line with the panic's stack")
	}
}

// TestArchivedOnboardingFailsVisiblyAndRetryOnboards: a worker killed on
// the task's last attempt leaves the task archived and the request
// enqueued, the tenant provisioning. The reconciler fails both (with the
// reason, the alert), and `retry` onboards the tenant under a fresh task id,
// once.
func TestArchivedOnboardingFailsVisiblyAndRetryOnboards(t *testing.T) {
	var armed atomic.Bool
	e := setup(t, withWait, func(c *Config) {
		c.afterStep = func(step string) error {
			if armed.Load() && step == StepEnsure {
				return errors.New("injected: worker killed")
			}
			return nil
		}
	})
	e.onboard("warmup", tenants.Shared)
	acc := e.submit("orphan", tenants.Shared)
	armed.Store(true)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err == nil {
		t.Fatal("want the injected failure")
	}
	armed.Store(false)
	if got := e.tenantStatus("orphan"); got != tenants.TenantProvisioning {
		t.Fatalf("tenant: got %s, want provisioning", got)
	}
	// The worker died on the last attempt: Asynq archives the task, no
	// handler ran the outcome.
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	t.Cleanup(func() { _ = insp.Close() })
	if err := insp.ArchiveTask(queue.QueueCritical, acc.TaskID); err != nil {
		t.Fatalf("archive: %v", err)
	}

	ctx := queue.WithLogger(e.ctx, e.taskLogger())
	// While another attempt holds the tenant (a wake-up may be finishing
	// the onboarding), the reconciler leaves it alone.
	if _, err := e.db.Exec(e.ctx, `INSERT INTO provision_leases (tenant_id, owner, token, until)
		VALUES ('orphan', 'wake-up', 'live', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.intake.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile while busy: %v", err)
	}
	if rec, _ := e.intake.Get(e.ctx, acc.RequestID); rec.Status != intake.StatusEnqueued {
		t.Fatalf("request while the tenant is busy: got %s, want enqueued", rec.Status)
	}
	if _, err := e.db.Exec(e.ctx, `DELETE FROM provision_leases WHERE tenant_id = 'orphan'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.intake.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	rec, err := e.intake.Get(e.ctx, acc.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != intake.StatusFailed || !strings.Contains(rec.Error, "archived") {
		t.Fatalf("request: got %s %q, want failed, the archived task named", rec.Status, rec.Error)
	}
	tn, _ := e.catalog.GetTenant(e.ctx, "orphan")
	if tn.Status != tenants.TenantFailed || !strings.Contains(tn.StatusReason, "archived") {
		t.Errorf("tenant: got %s %q, want failed with the reason", tn.Status, tn.StatusReason)
	}
	if !hasLine(e.logs.String(), `"level":"ERROR"`, `"alert":"tenant_onboard_failed"`, `"tenant":"orphan"`) {
		t.Errorf("no tenant_onboard_failed alert for orphan:\n%s", e.logs.String())
	}

	retried, err := e.intake.Retry(e.ctx, "orphan", "ops")
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if want := queue.OnboardAttemptTaskID(acc.RequestID, 2); retried.TaskID != want || retried.Status != intake.StatusEnqueued {
		t.Fatalf("retry: got %+v, want task %s enqueued", retried, want)
	}
	e.startWorker(2)
	wctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	if rec, err := e.intake.Wait(wctx, acc.RequestID); err != nil || rec.Status != intake.StatusDone {
		t.Fatalf("request after retry: got %s, %v; want done", rec.Status, err)
	}
	if got := e.tenantStatus("orphan"); got != tenants.TenantActive {
		t.Errorf("tenant after retry: got %s, want active", got)
	}
	if got := e.provisionDone("orphan"); got != 1 {
		t.Errorf("tenant.provision done entries: got %d, want 1", got)
	}
	if _, err := e.intake.Retry(e.ctx, "orphan", "ops"); !errors.Is(err, intake.ErrNotRetryable) {
		t.Errorf("retry of an active tenant: got %v, want ErrNotRetryable", err)
	}
}
