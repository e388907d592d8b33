package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestTenantLifecycleThroughCLI drives the wired fleet the way an operator
// would: `fleet tenants onboard --wait` against a running worker, a fleet
// migration with `fleet migrate up --wait` and `status`, then
// `fleet tenants offboard --wait`.
func TestTenantLifecycleThroughCLI(t *testing.T) {
	env, db, _ := scratchFleet(t, "c")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	a, svc := wireFleet(t, ctx, env)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterHandlers(w)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv, &out, io.Discard)
		return out.String(), err
	}
	for _, id := range []string{"alpha-co", "beta-co", "gamma-co"} {
		if out, err := cli("tenants", "onboard", id, "--name", strings.ToUpper(id), "--wait"); err != nil {
			t.Fatalf("onboard %s: %v\n%s", id, err, out)
		}
	}
	catalog := controlplane.NewStore(db)
	active, err := catalog.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantActive})
	if err != nil || len(active) != 3 {
		t.Fatalf("active tenants: %d (%v), want 3", len(active), err)
	}

	out, err := cli("migrate", "up", "--concurrency", "2", "--wait")
	if err != nil {
		t.Fatalf("migrate up --wait: %v\n%s", err, out)
	}
	if !strings.Contains(out, "succeeded 3, failed 0") {
		t.Errorf("migrate up --wait output lacks the summary:\n%s", out)
	}
	if out, err = cli("migrate", "status"); err != nil || !strings.Contains(out, "run 1: succeeded") {
		t.Errorf("migrate status: %v\n%s", err, out)
	}
	if _, err := cli("migrate", "status", "x1"); !errors.Is(err, errUsage) {
		t.Errorf("migrate status x1: %v, want a usage error", err)
	}
	if _, err := cli("migrate", "up", "--concurrency", "0"); !errors.Is(err, errUsage) {
		t.Errorf("migrate up --concurrency 0: %v, want a usage error", err)
	}

	if out, err := cli("tenants", "offboard", "beta-co", "--wait"); err != nil {
		t.Fatalf("offboard: %v\n%s", err, out)
	}
	if got, _ := catalog.GetTenant(ctx, "beta-co"); got.Status != tenants.TenantOffboarded {
		t.Errorf("beta-co status %s after offboard, want offboarded", got.Status)
	}
	if _, err := svc.Router.Resolve(ctx, "beta-co"); err == nil {
		t.Errorf("beta-co still resolves after offboarding")
	}
}
