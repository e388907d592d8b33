package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/queue/outbox"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func withWait(c *Config) { c.PlacementWait = 10 * time.Second }

func (e *env) countOn() map[string]int {
	e.t.Helper()
	n, err := e.catalog.CountTenants(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestThresholdCreatesNextInstanceAheadOfNeed(t *testing.T) {
	e := setup(t, withWait, func(c *Config) { c.MaxTenants = 5 })
	e.startWorker(4)
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("early-%d", i)
		e.submit(id, tenants.Shared)
		e.waitActive(id)
	}
	// The 4th tenant took 001-shared to 80%: the next one is created ahead
	// of need.
	eventually.True(e.t, 30*time.Second, "002-shared ready", func() bool {
		inst, err := e.catalog.GetInstance(e.ctx, SharedInstanceID(2))
		return err == nil && inst.Status == provider.StatusReady
	})
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("late-%d", i)
		e.submit(id, tenants.Shared)
		e.waitActive(id)
		tn, _ := e.catalog.GetTenant(e.ctx, id)
		if got, want := tn.InstanceID, SharedInstanceID(2); got != want {
			t.Errorf("%s: placed on %s, want %s", id, got, want)
		}
	}
	if got, want := e.countOn()[SharedInstanceID(1)], 4; got != want {
		t.Errorf("tenants on 001-shared: got %d, want %d", got, want)
	}
	route, err := e.router.Resolve(e.ctx, "late-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := route.Database, local.DatabaseName(e.fleet, SharedInstanceID(2)); got != want {
		t.Errorf("late-1 routed to %s, want %s", got, want)
	}
}

func TestRacingOnboardingsNeverOverfill(t *testing.T) {
	const maxTenants, n = 3, 10
	e := setup(t, withWait, func(c *Config) { c.MaxTenants = maxTenants })
	e.startWorker(10)
	var ids []string
	for i := range n {
		id := fmt.Sprintf("race-%02d", i)
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { e.submit(id, tenants.Shared) })
	}
	wg.Wait()
	e.waitActive(ids...)
	total := 0
	for inst, got := range e.countOn() {
		total += got
		if got > maxTenants {
			t.Errorf("instance %s holds %d tenants, max %d", inst, got, maxTenants)
		}
	}
	if total != n {
		t.Errorf("placed tenants: got %d, want %d", total, n)
	}
	insts, _ := e.catalog.ListInstances(e.ctx, controlplane.InstanceFilter{Tier: tenants.Shared})
	if len(insts) < (n+maxTenants-1)/maxTenants {
		t.Errorf("shared instances: got %d, want at least %d", len(insts), (n+maxTenants-1)/maxTenants)
	}
}

func TestDedicatedTenantGetsItsOwnDatabase(t *testing.T) {
	e := setup(t, withWait)
	e.startWorker(4)
	e.submit("big-bank", tenants.Dedicated)
	e.submit("small-co", tenants.Shared)
	e.waitActive("big-bank", "small-co")
	route, err := e.router.Resolve(e.ctx, "big-bank")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := route.Tier, tenants.Dedicated; got != want {
		t.Errorf("tier: got %s, want %s", got, want)
	}
	if got, want := route.InstanceID, "big-bank"; got != want {
		t.Errorf("instance: got %s, want %s", got, want)
	}
	if got, want := route.Database, local.DatabaseName(e.fleet, "big-bank"); got != want {
		t.Errorf("database: got %s, want %s", got, want)
	}
	inst, _ := e.catalog.GetInstance(e.ctx, "big-bank")
	if inst.Tier != tenants.Dedicated || inst.Status != provider.StatusReady {
		t.Errorf("instance: got %s %s, want dedicated ready", inst.Tier, inst.Status)
	}
	pools := e.pools()
	if err := pools.WithTenant(e.ctx, "big-bank", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT count(*) FROM accounts")
		return err
	}); err != nil {
		t.Fatalf("dedicated tenant's table: %v", err)
	}
	_, _, schemas := e.serverState()
	if got := schemas[route.Database]; len(got) != 1 || got[0] != "t_big_bank" {
		t.Errorf("schemas in the dedicated database: got %v, want [t_big_bank]", got)
	}
}

func TestRetryBudgetExhaustedFailsTenantAndRequest(t *testing.T) {
	e := setup(t, withWait, func(c *Config) {
		c.afterStep = func(step string) error {
			if step == StepEnsure {
				return errors.New("injected: database unreachable")
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
	acc, err := in.Submit(e.ctx, intake.Request{TenantID: "doomed", TicketKey: "TCK-9", RequestedBy: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.intake.Wait(e.ctx, acc.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != intake.StatusFailed || rec.Error == "" {
		t.Errorf("request: got %s %q, want failed with a reason", rec.Status, rec.Error)
	}
	tn, _ := e.catalog.GetTenant(e.ctx, "doomed")
	if tn.Status != tenants.TenantFailed || tn.StatusReason == "" {
		t.Errorf("tenant: got %s %q, want failed with a reason", tn.Status, tn.StatusReason)
	}
	eventually.True(e.t, 10*time.Second, "alert line", func() bool {
		return hasLine(e.logs.String(), `"level":"ERROR"`, `"alert":"tenant_onboard_failed"`, `"tenant":"doomed"`)
	})
	if _, err := e.router.Resolve(e.ctx, "doomed"); !errors.Is(err, tenants.ErrTenantNotActive) {
		t.Errorf("resolve: got %v, want ErrTenantNotActive", err)
	}
}

func TestOffboardRemovesRouteAndAccess(t *testing.T) {
	e := setup(t)
	e.onboard("leaver", tenants.Shared)
	e.onboard("dropper", tenants.Shared)
	e.onboard("stayer", tenants.Shared)
	pools := e.pools()
	read := func(id string) error {
		return pools.WithTenant(e.ctx, id, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT count(*) FROM accounts")
			return err
		})
	}
	if err := read("leaver"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	e.agent.cfg.Now = func() time.Time { return now }
	for _, c := range []struct {
		id     string
		action offboard.Action
	}{{"leaver", offboard.ActionArchive}, {"dropper", offboard.ActionDrop}} {
		task := offboardTask(t, e.requestOffboard(c.id, c.action))
		if err := e.agent.HandleOffboard(e.ctx, task); err != nil {
			t.Fatalf("offboard %s: %v", c.id, err)
		}
		if err := e.agent.HandleOffboard(e.ctx, task); err != nil { // idempotent
			t.Fatalf("offboard %s again: %v", c.id, err)
		}
		if got := e.tenantStatus(c.id); got != tenants.TenantOffboarded {
			t.Errorf("%s: status %s, want offboarded", c.id, got)
		}
		if _, err := e.router.Resolve(e.ctx, c.id); !errors.Is(err, tenants.ErrTenantNotActive) {
			t.Errorf("%s: resolve got %v, want ErrTenantNotActive", c.id, err)
		}
	}
	// The application role itself can no longer switch to the tenant role.
	inst, _ := e.catalog.GetInstance(e.ctx, SharedInstanceID(1))
	app, err := pgx.Connect(e.ctx, fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable",
		tenants.AppRoleName(e.fleet), inst.Host, inst.Port, inst.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(e.ctx)
	_, err = app.Exec(e.ctx, "SET ROLE "+pgx.Identifier{e.fleet + "_t_leaver"}.Sanitize())
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("SET ROLE to an offboarded tenant: got %v, want permission denied", err)
	}
	if err := read("stayer"); err != nil {
		t.Errorf("remaining tenant: %v", err)
	}
	_, roles, schemas := e.serverState()
	got := schemas[inst.Database]
	want := []string{"archived_t_leaver_20261126", "t_stayer"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schemas: got %v, want %v", got, want)
	}
	for _, r := range roles {
		if r == e.fleet+"_t_dropper" {
			t.Errorf("role %s survived a drop", r)
		}
	}
	var n int
	_ = e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor = 'dave' AND outcome = 'done'`, ActionOffboard).Scan(&n)
	if n != 2 {
		t.Errorf("offboard audit entries: got %d, want 2", n)
	}
}
