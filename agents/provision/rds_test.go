package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdsfake"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// noConnector is a connector that reaches no instance: these tests cover
// the instance lifecycle, not sessions on the instances.
type noConnector struct{}

var _ provider.Connector = noConnector{}

func (noConnector) Admin(context.Context, provider.Endpoint) (*pgxpool.Pool, error) {
	return nil, errors.New("no rds admin connector")
}

func (noConnector) LoginConfig(context.Context, provider.Endpoint, string, string) (*pgxpool.Config, error) {
	return nil, errors.New("no rds admin connector")
}

func (noConnector) Forget(provider.Endpoint) {}
func (noConnector) Close()                   {}

// setupRDS is setup with the real RDS provider pointed at a local
// rdsfake server (and no admin connector: RDS has none yet).
func setupRDS(t *testing.T, mutate ...func(*Config)) (*env, *rdsfake.Server) {
	t.Helper()
	srv := rdsfake.New()
	t.Cleanup(srv.Close)
	prov, err := rds.New(t.Context(), rds.Config{AWS: awsclient.Settings{Region: "us-east-1", Endpoint: srv.URL(),
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test", RetryMaxAttempts: 1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	none, err := sessions.New(sessions.Config{Connector: noConnector{}, Key: cptest.SecretKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, append([]func(*Config){func(c *Config) { c.Provider, c.Sessions = prov, none }}, mutate...)...)
	return e, srv
}

func TestInstanceCreateOnRDS(t *testing.T) {
	e, srv := setupRDS(t)
	run := func(typ string, id string, attempt int) {
		t.Helper()
		task, _ := queue.NewTask(typ, queue.InstancePayload{InstanceID: id, Attempt: attempt})
		var err error
		if typ == queue.TypeInstanceCreate {
			err = e.agent.HandleInstanceCreate(e.ctx, task)
		} else {
			err = e.agent.HandleInstanceCheck(e.ctx, task)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", typ, id, err)
		}
	}
	for _, c := range []struct {
		id, rdsStatus string
		want          provider.Status
	}{
		{"001-shared", "available", provider.StatusReady},
		{"002-shared", "failed", provider.StatusFailed},
	} {
		if _, err := e.catalog.CreateInstance(e.ctx, controlplane.Instance{Instance: provider.Instance{ID: c.id}, Provider: "rds", Tier: tenants.Shared}); err != nil {
			t.Fatal(err)
		}
		run(queue.TypeInstanceCreate, c.id, 0)
		inst, _ := e.catalog.GetInstance(e.ctx, c.id)
		ident := rds.Identifier(e.fleet, c.id)
		if inst.Status != provider.StatusCreating || inst.ProviderRef != ident || inst.SecretRef == "" {
			t.Fatalf("%s after create: got %s ref %q secret %q, want creating, %s, a secret ARN", c.id, inst.Status, inst.ProviderRef, inst.SecretRef, ident)
		}
		run(queue.TypeInstanceCheck, c.id, 1) // still creating: polls again
		srv.SetStatus(ident, c.rdsStatus)
		run(queue.TypeInstanceCheck, c.id, 2)
		inst, _ = e.catalog.GetInstance(e.ctx, c.id)
		if inst.Status != c.want {
			t.Fatalf("%s: got %s (%s), want %s", c.id, inst.Status, inst.StatusReason, c.want)
		}
		switch c.want {
		case provider.StatusReady:
			if inst.Host == "" || inst.Database != "tenants" {
				t.Errorf("%s: endpoint %q database %q, want set", c.id, inst.Host, inst.Database)
			}
		case provider.StatusFailed:
			if !strings.Contains(inst.StatusReason, "failed") {
				t.Errorf("%s: reason %q, want the rds status", c.id, inst.StatusReason)
			}
		}
	}
	if got := len(srv.Requests("CreateDBInstance")); got != 2 {
		t.Errorf("CreateDBInstance calls: got %d, want 2", got)
	}
}

func TestInstanceCheckGivesUpAfterMaxChecks(t *testing.T) {
	e, _ := setupRDS(t, func(c *Config) { c.MaxChecks = 2 })
	if _, err := e.catalog.CreateInstance(e.ctx, controlplane.Instance{Instance: provider.Instance{ID: "slow"}, Provider: "rds", Tier: tenants.Dedicated}); err != nil {
		t.Fatal(err)
	}
	task, _ := queue.NewTask(queue.TypeInstanceCreate, queue.InstancePayload{InstanceID: "slow"})
	if err := e.agent.HandleInstanceCreate(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	task, _ = queue.NewTask(queue.TypeInstanceCheck, queue.InstancePayload{InstanceID: "slow", Attempt: 2})
	if err := e.agent.HandleInstanceCheck(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	inst, _ := e.catalog.GetInstance(e.ctx, "slow")
	if inst.Status != provider.StatusFailed || !strings.Contains(inst.StatusReason, "2 checks") {
		t.Errorf("got %s %q, want failed after 2 checks", inst.Status, inst.StatusReason)
	}
}

// TestOnboardWaitsForCreatingInstanceWithoutSpendingRetries: while the only
// shared instance is still being created by RDS, an onboarding gives its
// worker back with a queue.NotReadyError (not a failure: its retry budget
// stays whole) and the tenant stays provisioning, not failed.
func TestOnboardWaitsForCreatingInstanceWithoutSpendingRetries(t *testing.T) {
	e, _ := setupRDS(t)
	acc := e.submit("waiting-co", tenants.Shared)
	for attempt := range 3 {
		err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc))
		var nr *queue.NotReadyError
		if !errors.As(err, &nr) || !errors.Is(err, ErrWaitingForInstance) {
			t.Fatalf("attempt %d: onboarding returned %v, want a NotReadyError waiting for an instance", attempt, err)
		}
		if nr.Delay <= 0 {
			t.Fatalf("attempt %d: NotReady delay %s, want positive", attempt, nr.Delay)
		}
	}
	if got := e.tenantStatus("waiting-co"); got == tenants.TenantFailed {
		t.Fatalf("tenant status %s after waiting, want it still provisioning", got)
	}
	insts, err := e.catalog.ListInstances(e.ctx, controlplane.InstanceFilter{Status: provider.StatusCreating})
	if err != nil || len(insts) != 1 {
		t.Fatalf("creating instances: %d (%v), want exactly 1 however often the onboarding waited", len(insts), err)
	}
}
