package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestTenantsRetry(t *testing.T) {
	dbURL, db := cptest.Database(t)
	redisURL, rdb := cptest.RedisDB(t)
	env := map[string]string{"FLEET_DATABASE_URL": dbURL, "FLEET_REDIS_URL": redisURL}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	qc := queue.NewClient(rdb)
	defer qc.Close()
	in, err := intake.New(intake.Config{DB: db, Queue: qc, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := in.Submit(ctx, intake.Request{TenantID: "acme", Source: intake.SourceCLI})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.MarkFailed(ctx, acc.RequestID, "instance full"); err != nil {
		t.Fatal(err)
	}
	if _, err := controlplane.NewStore(db).CreateTenant(ctx, controlplane.Tenant{ID: "acme", Name: "Acme", Tier: tenants.Shared, Status: tenants.TenantFailed}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"tenants", "retry", "acme"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if want := "task " + queue.OnboardAttemptTaskID(acc.RequestID, 2) + " (enqueued)"; !strings.Contains(out.String(), want) {
		t.Errorf("retry output %q lacks %q", out.String(), want)
	}
	var actor string
	if err := db.QueryRow(ctx, `SELECT actor FROM audit_log WHERE outcome = $1`, intake.OutcomeRetried).Scan(&actor); err != nil ||
		!strings.HasPrefix(actor, "local:") {
		t.Errorf("audit actor: got %q, %v; want the CLI user", actor, err)
	}
	if err := run(ctx, []string{"tenants", "retry", "acme"}, getenv, io.Discard, io.Discard); !errors.Is(err, errConflict) {
		t.Errorf("retry in flight: got %v, want a conflict (409)", err)
	}
	if err := run(ctx, []string{"tenants", "retry", "nobody"}, getenv, io.Discard, io.Discard); !errors.Is(err, errNotFound) {
		t.Errorf("retry unknown: got %v, want not found (404)", err)
	}
	for _, args := range [][]string{{"tenants", "retry"}, {"tenants", "retry", "Not_A_Slug"}, {"tenants", "retry", "a", "b"}} {
		if err := run(ctx, args, getenv, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}
