package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// An operator offboards a tenant and onboards it again, fresh and then with
// its archived schema restored, and finally purges it, all through the CLI
// against a running worker.
func TestReonboardAndPurgeThroughCLI(t *testing.T) {
	env, db, _ := scratchFleet(t, "r")
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
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, getenv, &out, io.Discard); err != nil {
			t.Fatalf("fleet %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	catalog := controlplane.NewStore(db)
	status := func() tenants.TenantStatus {
		tn, err := catalog.GetTenant(ctx, "phoenix")
		if err != nil {
			t.Fatal(err)
		}
		return tn.Status
	}

	cli("tenants", "onboard", "phoenix", "--name", "Phoenix", "--wait")
	cli("tenants", "offboard", "phoenix", "--wait")
	cli("tenants", "onboard", "phoenix", "--name", "Phoenix Fresh", "--wait")
	if got := status(); got != tenants.TenantActive {
		t.Fatalf("after a fresh re-onboarding: %s, want active", got)
	}
	cli("tenants", "offboard", "phoenix", "--wait")
	if out := cli("tenants", "onboard", "phoenix", "--name", "Phoenix", "--restore", "--wait"); !strings.Contains(out, "is active") {
		t.Errorf("restore output:\n%s", out)
	}
	if _, err := svc.Router.Resolve(ctx, "phoenix"); err != nil {
		t.Errorf("restored tenant does not resolve: %v", err)
	}
	cli("tenants", "offboard", "phoenix", "--wait")
	if out := cli("tenants", "purge", "phoenix", "--wait"); !strings.Contains(out, "is purged") {
		t.Errorf("purge output:\n%s", out)
	}
	var archives, roles int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE purged_at IS NULL AND restored_at IS NULL) FROM tenant_archives WHERE tenant_id = 'phoenix'`).Scan(&archives); err != nil {
		t.Fatal(err)
	}
	if archives != 0 {
		t.Errorf("archives left after purge: %d", archives)
	}
	// Roles are cluster-wide: the control plane's server is the local
	// instances' server.
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, env["FLEET_NAME"]+"_t_phoenix").Scan(&roles); err != nil {
		t.Fatal(err)
	}
	if roles != 0 {
		t.Errorf("tenant role left after purge")
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"tenants", "purge", "no-such-co"}, getenv, &out, io.Discard); err == nil {
		t.Error("purging an unknown tenant succeeded")
	}
}
