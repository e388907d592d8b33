package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// benchMigrations is the change rolled out by `fleetbench migrate`: new
// tables, a composite index, a new column with a default.
var benchMigrations = []struct{ name, up string }{
	{"00001_invoices.sql", `CREATE TABLE invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(), amount numeric(12,2) NOT NULL);
CREATE TABLE invoice_lines (id bigserial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices,
  sku text NOT NULL, qty integer NOT NULL);`},
	{"00002_invoices_customer_idx.sql", `CREATE INDEX invoices_customer_issued_idx ON invoices (customer_id, issued_at);`},
	{"00003_invoices_currency.sql", `ALTER TABLE invoices ADD COLUMN currency text NOT NULL DEFAULT 'EUR';`},
}

// migrateResult is the last line of `fleetbench migrate`.
type migrateResult struct {
	Scenario    string  `json:"scenario"`
	Tenants     int     `json:"tenants"`
	Migrations  int     `json:"migrations"`
	Concurrency int     `json:"concurrency"`
	Workers     int     `json:"workers"`
	Seconds     float64 `json:"seconds"`
	Failed      int     `json:"failed"`
	PerTenantMs float64 `json:"per_tenant_ms"`
	// BaselineSeconds is the same SQL for as many schemas, one after the
	// other in a single session (0 with -baseline=false).
	BaselineSeconds float64 `json:"baseline_seconds"`
}

// runMigrate creates -tenants tenant schemas on one instance, then times a
// fleet migration run of benchMigrations across them with a worker in this
// process.
func runMigrate(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("tenants", 1000, "tenant schemas to create and migrate")
	concurrency := fs.Int("concurrency", 5, "tenants migrating at once on the instance")
	workers := fs.Int("workers", 0, "worker task slots (default 2 x concurrency)")
	baseline := fs.Bool("baseline", true, "also time the same SQL in one session, sequentially")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *concurrency < 1 || *workers < 0 {
		return errors.New("migrate: -tenants >= 1, -concurrency >= 1 and -workers >= 0 please")
	}
	if *workers == 0 {
		*workers = 2 * *concurrency
	}
	e, err := newEnv(ctx, cfg, stderr, nil)
	if err != nil {
		return err
	}
	defer e.close()

	sess, conn, err := newSessions(e.dataAdminURL, 2)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(stderr, "creating %d tenants...\n", *n)
	if err := createBenchTenants(ctx, e, sess, *n); err != nil {
		return err
	}
	res := migrateResult{Scenario: "migrate", Tenants: *n, Migrations: len(benchMigrations), Concurrency: *concurrency, Workers: *workers}
	if *baseline {
		fmt.Fprintf(stderr, "baseline: the same SQL for %d schemas in one session...\n", *n)
		if res.BaselineSeconds, err = migrateBaseline(ctx, e, *n); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}

	fsys := migrations.Files{}
	for _, m := range benchMigrations {
		fsys[m.name] = []byte("-- +goose Up\n" + m.up + "\n")
	}
	migrator, err := migrations.New(migrations.Config{FS: fsys, Logger: e.log})
	if err != nil {
		return err
	}
	queueName := "fleetbench-" + e.fleet
	runner, err := migrate.New(migrate.Config{DB: e.cp, Redis: e.rdb, Queue: queue.NewClient(e.rdb), Fleet: e.fleet,
		Migrator: migrator, Sessions: sess, QueueName: queueName, Logger: e.log})
	if err != nil {
		return err
	}
	worker, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Concurrency: *workers, TaskCheckInterval: cfg.TaskCheckInterval,
		Queues: map[string]int{queueName: 1}, Logger: e.log})
	if err != nil {
		return err
	}
	runner.Register(worker)
	if err := worker.Start(ctx); err != nil {
		return err
	}
	defer worker.Stop()
	defer deleteQueue(e, queueName)

	fmt.Fprintf(stderr, "migrating %d tenants, %d at a time...\n", *n, *concurrency)
	start := time.Now()
	id, err := runner.Start(ctx, migrate.Spec{Concurrency: *concurrency})
	if err != nil {
		return err
	}
	st, err := runner.Wait(ctx, id, 20*time.Millisecond, nil)
	if err != nil {
		return err
	}
	took := time.Since(start)
	res.Seconds = round3(took.Seconds())
	res.Failed = st.Counts.Failed
	res.PerTenantMs = round3(float64(took.Microseconds()) / 1000 / float64(*n))
	for _, f := range st.Failed() {
		fmt.Fprintf(stderr, "failed: %s: %s\n", f.TenantID, f.Error)
	}
	fmt.Fprintf(stderr, "run %d %s: %d succeeded, %d failed in %s (baseline %.2fs)\n",
		id, st.Status, st.Counts.Succeeded, st.Counts.Failed, took.Round(time.Millisecond), res.BaselineSeconds)
	out, _ := json.Marshal(res)
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// createBenchTenants creates n active tenants on the env's instance, with
// their roles, logins and schemas, in a few round trips per batch.
func createBenchTenants(ctx context.Context, e *env, sess *sessions.Sessions, n int) error {
	const batch = 250
	for lo := 0; lo < n; lo += batch {
		var rows []controlplane.Tenant
		for i := lo; i < min(lo+batch, n); i++ {
			id := fmt.Sprintf("bench-%05d", i)
			names, err := tenants.NamesFor(e.fleet, id)
			if err != nil {
				return err
			}
			rows = append(rows, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: tenants.TenantActive,
				InstanceID: e.instance.ID, Database: e.dataDB, Schema: names.Schema, Role: names.Role})
			if err := tenants.EnsureTenant(ctx, e.data, names); err != nil {
				return err
			}
			if err := sess.EnableLogin(ctx, e.data, names); err != nil {
				return err
			}
		}
		if err := controlplane.NewStore(e.cp).ImportTenants(ctx, rows); err != nil {
			return fmt.Errorf("record tenants: %w", err)
		}
	}
	return nil
}

// migrateBaseline runs benchMigrations for n plain schemas in one session,
// one statement after the other (each its own transaction), like a psql
// script would, then drops the schemas.
func migrateBaseline(ctx context.Context, e *env, n int) (float64, error) {
	data, err := pgx.Connect(ctx, e.dataURL)
	if err != nil {
		return 0, err
	}
	defer data.Close(context.WithoutCancel(ctx))
	schemas := make([]string, n)
	var ddl strings.Builder
	for i := range schemas {
		schemas[i] = pgx.Identifier{fmt.Sprintf("baseline_%05d", i)}.Sanitize()
		ddl.WriteString("CREATE SCHEMA " + schemas[i] + ";\n")
	}
	if _, err := data.Exec(ctx, ddl.String()); err != nil {
		return 0, err
	}
	var stmts []string
	for _, m := range benchMigrations {
		for s := range strings.SplitSeq(m.up, ";") {
			if s = strings.TrimSpace(s); s != "" {
				stmts = append(stmts, s)
			}
		}
	}
	start := time.Now()
	for _, schema := range schemas {
		if _, err := data.Exec(ctx, "SET search_path TO "+schema); err != nil {
			return 0, err
		}
		for _, s := range stmts {
			if _, err := data.Exec(ctx, s); err != nil {
				return 0, err
			}
		}
	}
	took := time.Since(start).Seconds()
	if _, err := data.Exec(ctx, "RESET search_path"); err != nil {
		return 0, err
	}
	for lo := 0; lo < n; lo += 100 {
		if _, err := data.Exec(ctx, "DROP SCHEMA "+strings.Join(schemas[lo:min(lo+100, n)], ", ")+" CASCADE"); err != nil {
			return 0, err
		}
	}
	return round3(took), nil
}

// deleteQueue removes the benchmark's Asynq queue from Redis.
func deleteQueue(e *env, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := e.rdb.Scan(ctx, 0, "asynq:{"+name+"}*", 1000).Iterator()
	for iter.Next(ctx) {
		e.rdb.Del(ctx, iter.Val())
	}
	e.rdb.SRem(ctx, "asynq:queues", name)
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
