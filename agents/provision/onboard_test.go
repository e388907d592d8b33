package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestOnboardSharedTenantIsActiveRoutedAndIsolated(t *testing.T) {
	e := setup(t)
	accA := e.onboard("acme-bank", tenants.Shared)
	e.onboard("globex", tenants.Shared)

	rec, err := e.intake.Get(e.ctx, accA.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Status, intake.StatusDone; got != want {
		t.Fatalf("request status: got %s, want %s", got, want)
	}
	route, err := e.router.Resolve(e.ctx, "acme-bank")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if got, want := route.InstanceID, SharedInstanceID(1); got != want {
		t.Errorf("instance: got %s, want %s", got, want)
	}
	if got, want := route.Database, local.DatabaseName(e.fleet, SharedInstanceID(1)); got != want {
		t.Errorf("database: got %s, want %s", got, want)
	}
	if got, want := route.Schema, "t_acme_bank"; got != want {
		t.Errorf("schema: got %s, want %s", got, want)
	}

	pools := e.pools()
	err = pools.WithTenant(e.ctx, "acme-bank", func(ctx context.Context, tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, "SELECT count(*) FROM accounts").Scan(&n)
	})
	if err != nil {
		t.Fatalf("own tenant's table: %v", err)
	}
	err = pools.WithTenant(e.ctx, "acme-bank", func(ctx context.Context, tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, "SELECT count(*) FROM t_globex.accounts").Scan(&n)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("other tenant's table: got %v, want permission denied (42501)", err)
	}

	var n int
	if err := e.db.QueryRow(e.ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = 'acme-bank'
		AND action = $1 AND outcome = 'done' AND actor = 'alice' AND ticket = 'TCK-acme-bank'`, ActionProvision).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("audit entries: got %d, want 1", n)
	}
	// A late duplicate of the task is a no-op.
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, accA)); err != nil {
		t.Fatalf("rerun: %v", err)
	}
}

// crash is what a killed worker does at a step: an error, or a panic.
type crash struct {
	step  string
	panic bool
}

func TestOnboardKilledAtEveryStepFinishesOnRetry(t *testing.T) {
	var cases []crash
	for _, s := range Steps {
		cases = append(cases, crash{step: s})
	}
	cases = append(cases, crash{step: StepEnsure, panic: true}, crash{step: StepMigrate, panic: true})

	var armed *crash
	e := setup(t, func(c *Config) {
		c.afterStep = func(step string) error {
			if armed == nil || armed.step != step {
				return nil
			}
			if armed.panic {
				panic("killed at " + step)
			}
			return fmt.Errorf("killed at %s", step)
		}
	})
	e.onboard("warmup", tenants.Shared) // the shared instance exists
	want := []string{"t_warmup"}
	for _, c := range cases {
		id := "k-" + c.step
		if c.panic {
			id += "-p"
		}
		acc := e.submit(id, tenants.Shared)
		armed = &c
		err := callRecovering(func() error { return e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)) })
		if err == nil {
			t.Fatalf("%s: want the injected failure", id)
		}
		armed = nil
		if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err != nil {
			t.Fatalf("%s: retry: %v", id, err)
		}
		if got := e.tenantStatus(id); got != tenants.TenantActive {
			t.Fatalf("%s: status %s, want active", id, got)
		}
		if _, err := e.router.Resolve(e.ctx, id); err != nil {
			t.Fatalf("%s: resolve: %v", id, err)
		}
		want = append(want, tenants.SchemaName(id))
	}
	dbs, roles, schemas := e.serverState()
	if got, wantDBs := dbs, []string{local.DatabaseName(e.fleet, SharedInstanceID(1))}; !slices.Equal(got, wantDBs) {
		t.Errorf("databases: got %v, want %v", got, wantDBs)
	}
	if got := schemas[dbs[0]]; !slices.Equal(got, sorted(want)) {
		t.Errorf("schemas: got %v, want %v", got, sorted(want))
	}
	wantRoles := []string{tenants.AppRoleName(e.fleet)}
	for _, s := range want {
		wantRoles = append(wantRoles, e.fleet+"_"+s)
	}
	if got := roles; !slices.Equal(got, sorted(wantRoles)) {
		t.Errorf("roles: got %v, want %v", got, sorted(wantRoles))
	}
	active, err := e.catalog.ListTenants(e.ctx, controlplane.TenantFilter{Status: tenants.TenantActive})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(active), len(want); got != want {
		t.Errorf("active tenants: got %d, want %d", got, want)
	}
}

func callRecovering(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// An onboarding that arrives while the tenant's offboarding is in flight
// fails (visibly) and leaves the offboarding to finish.
func TestOnboardRefusedWhileOffboarding(t *testing.T) {
	e := setup(t)
	e.onboard("gone-co", tenants.Shared)
	off := e.requestOffboard("gone-co", offboard.ActionArchive)
	acc, err := e.intake.Submit(e.ctx, intake.Request{TenantID: "gone-co", TicketKey: "TCK-again", RequestedBy: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	err = e.agent.HandleOnboard(e.ctx, onboardTask(t, acc))
	if !errors.Is(err, ErrPermanent) {
		t.Fatalf("got %v, want ErrPermanent", err)
	}
	rec, _ := e.intake.Get(e.ctx, acc.RequestID)
	if rec.Status != intake.StatusFailed || !strings.Contains(rec.Error, "being offboarded") {
		t.Errorf("request: got %s %q, want failed: being offboarded", rec.Status, rec.Error)
	}
	if got := e.tenantStatus("gone-co"); got != tenants.TenantOffboarding {
		t.Errorf("tenant: got %s, want offboarding (untouched)", got)
	}
	if err := e.agent.HandleOffboard(e.ctx, offboardTask(t, off)); err != nil {
		t.Fatal(err)
	}
	if got := e.tenantStatus("gone-co"); got != tenants.TenantOffboarded {
		t.Errorf("tenant: got %s, want offboarded", got)
	}
}
