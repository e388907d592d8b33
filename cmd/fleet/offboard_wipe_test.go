package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// An offboarding requested with `fleet tenants offboard` while no worker
// runs, whose task a FLUSHDB then wipes, is finished by the wired fleet's
// scheduled reconciler: the application role is no longer a member of the
// tenant role. (Before the offboarding outbox the task was simply gone and
// the tenant kept its access.)
func TestWiredFleetFinishesOffboardingAfterRedisWipe(t *testing.T) {
	env, db, rdb := scratchFleet(t, "w")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	a, svc := wireFleet(t, ctx, env)
	cli := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, getenv, &out, io.Discard); err != nil {
			t.Fatalf("fleet %v: %v\n%s", args, err, out.String())
		}
	}
	startWorker := func() *queue.Worker {
		w, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log})
		if err != nil {
			t.Fatal(err)
		}
		svc.RegisterHandlers(w)
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}

	w := startWorker()
	cli("tenants", "onboard", "leaving-co", "--name", "Leaving", "--wait")
	w.Stop()
	cli("tenants", "offboard", "leaving-co")
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	defer startWorker().Stop()
	sched, err := svc.NewScheduler(a.conns())
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sched.Stop()

	catalog := controlplane.NewStore(db)
	tn, err := catalog.GetTenant(ctx, "leaving-co")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, config.WithDatabase(a.cfg.LocalAdminURL, tn.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// The reconciler runs every 10 s and takes requests untouched for 10 s.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var member bool
		if err := admin.QueryRow(ctx, `SELECT pg_has_role($1, $2, 'MEMBER')`, tenants.AppRoleName(env["FLEET_NAME"]), tn.Role).Scan(&member); err != nil {
			t.Fatal(err)
		}
		got, _ := catalog.GetTenant(ctx, "leaving-co")
		if !member && got.Status == tenants.TenantOffboarded {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 minutes after the wipe: application role member of %s: %v, tenant %s", tn.Role, member, got.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
