package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/pgcluster"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// costResult is the last line of `fleetbench cost`.
type costResult struct {
	Scenario string `json:"scenario"`
	Tenants  int    `json:"tenants"`
	Rows     int    `json:"rows"`
	// Planted counts the problems the workload carries that the agent
	// should advise on (costPlanted); Found those it did.
	Planted int `json:"planted"`
	Found   int `json:"found"`
	// FalseRecommendations counts recommendations that match no planted
	// problem, or name a tenant or index the problem does not have.
	FalseRecommendations int `json:"false_recommendations"`
	// ExecMSBefore and ExecMSAfter are the workload's execution time as
	// pg_stat_statements measured it, before and after the index
	// recommendations were applied (after is 0 with -skip-apply).
	ExecMSBefore float64 `json:"exec_ms_before"`
	ExecMSAfter  float64 `json:"exec_ms_after"`
	Reduction    float64 `json:"reduction"`
	// AnalyzeS is the wall time of one cost.Analyzer.Analyze.
	AnalyzeS float64 `json:"analyze_s"`
	// Missing names the planted problems not found.
	Missing []string `json:"missing"`
	// Recommendations is how many the analysis made; Applied how many
	// index runs succeeded; OpenAfter how many create_index
	// recommendations a re-analysis after the second workload still has
	// open (-1 with -skip-apply).
	Recommendations int  `json:"recommendations"`
	Applied         int  `json:"applied"`
	OpenAfter       int  `json:"open_after"`
	SkipApply       bool `json:"skip_apply"`
	Incomplete      bool `json:"incomplete"`
}

// The workload of `fleetbench cost`: every tenant has an orders table; the
// statements are sent with parameters, as an application would, so
// pg_stat_statements stores them as sent.
const (
	// costHotQuery filters on an unindexed column: planted in most tenants.
	costHotQuery = `SELECT id, status FROM orders WHERE customer_id = $1`
	// costIndexedQuery is as hot but served by orders_ref_idx: nothing to
	// advise.
	costIndexedQuery = `SELECT id, status FROM orders WHERE ref = $1`
	// costSchema is each tenant's table (:rows rows) and indexes, created
	// as the tenant: orders_ref_dup_idx duplicates orders_ref_idx (created
	// second, so the planner keeps using the first at equal cost) and
	// orders_note_idx is never used.
	costSchema = `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, ref text NOT NULL,
  status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), note text);
INSERT INTO orders (customer_id, ref, status, created_at, note)
  SELECT g % 1000, 'r' || g, CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END, now() - g * interval '1 minute', repeat('x', 40)
  FROM generate_series(1, :rows) g;
CREATE INDEX orders_ref_idx ON orders (ref);
CREATE INDEX orders_ref_dup_idx ON orders (ref);
CREATE INDEX orders_note_idx ON orders (note);
ANALYZE orders`
)

// The planted problems, as named in costResult.Missing.
const (
	plantedHotQuery  = "create_index orders(customer_id)"
	plantedUnused    = "drop_index orders_note_idx (unused)"
	plantedDuplicate = "drop_index orders_ref_dup_idx (duplicate of orders_ref_idx)"
	plantedDominant  = "move_to_dedicated"
)

// costPlan says which tenant carries what.
type costPlan struct {
	ids      []string
	hot      map[string]bool // tenants running costHotQuery
	dominant string          // runs costHotQuery dominantFactor times as often
	calls    int
}

// dominantFactor makes the dominant tenant's share of its instance about
// 45% with 50 tenants, over FLEET_COST_DEDICATED_SHARE's default 0.3.
const dominantFactor = 40

func newCostPlan(n, calls int) costPlan {
	p := costPlan{hot: map[string]bool{}, calls: calls}
	for i := range n {
		id := fmt.Sprintf("bench-%05d", i)
		p.ids = append(p.ids, id)
		// Nine tenants in ten run the unindexed hot query.
		if i%10 != 9 {
			p.hot[id] = true
		}
	}
	p.dominant = p.ids[0]
	return p
}

// runCost is `fleetbench cost`: seed tenants on a private server with
// pg_stat_statements and HypoPG, run the planted workload as the tenants,
// analyze, apply every create_index recommendation through the fleet
// migration runner, run the workload again.
func runCost(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("tenants", 50, "tenant schemas to seed")
	rows := fs.Int("rows", 20000, "rows of each tenant's orders table")
	calls := fs.Int("calls", 30, "calls of each workload statement per tenant (the dominant tenant runs the hot one 40x as often)")
	skipApply := fs.Bool("skip-apply", false, "stop after the analysis (to time analyze_s at scale)")
	instanceURL := fs.String("instance-url", "", "superuser URL of a server with pg_stat_statements preloaded and HypoPG; default: a private cluster (infra/pgcluster)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the analysis to this file")
	maxTenants := fs.Int("max-tenants-per-statement", cost.DefaultMaxTenantsPerStatement, "the analyzer's MaxTenantsPerStatement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 10 || *rows < 1000 || *calls < int(cost.DefaultMinCalls) || *maxTenants < 1 {
		return fmt.Errorf("cost: -tenants >= 10, -rows >= 1000, -calls >= %d, -max-tenants-per-statement >= 1 please", cost.DefaultMinCalls)
	}
	server := *instanceURL
	if server == "" {
		fmt.Fprintln(stderr, "starting a private PostgreSQL with pg_stat_statements preloaded...")
		c, err := pgcluster.Launch(pgcluster.Options{Settings: map[string]string{
			"shared_preload_libraries": "pg_stat_statements",
			// Every tenant's statements are entries of their own; keep
			// them all, so attribution is complete.
			"pg_stat_statements.max": strconv.Itoa(max(5000, 20**n)),
			"max_connections":        "300",
		}})
		if err != nil {
			return err
		}
		defer func() { _ = c.Stop() }()
		server = c.URL("postgres")
	}
	e, err := newEnvOn(ctx, cfg, server, stderr, nil)
	if err != nil {
		return err
	}
	e.dataDisposable = *instanceURL == ""
	defer e.close()
	// The workload's time is read from pg_stat_statements (the analyzer
	// creates it too, and HypoPG, at its first analysis).
	if _, err := e.data.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return err
	}
	sess, conn, err := newSessions(e.dataAdminURL, 4)
	if err != nil {
		return err
	}
	defer conn.Close()

	plan := newCostPlan(*n, *calls)
	fmt.Fprintf(stderr, "seeding %d tenants with %d rows each...\n", *n, *rows)
	if err := createBenchTenants(ctx, e, sess, *n); err != nil {
		return err
	}
	if err := forEachTenant(ctx, plan.ids, func(ctx context.Context, id string) error {
		return e.pools.WithTenant(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, strings.Replace(costSchema, ":rows", strconv.Itoa(*rows), 1))
			return err
		})
	}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	res := costResult{Scenario: "cost", Tenants: *n, Rows: *rows, SkipApply: *skipApply, OpenAfter: -1}
	fmt.Fprintln(stderr, "workload, before...")
	if res.ExecMSBefore, err = runCostWorkload(ctx, e, plan); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "workload before: %.1f ms of execution\n", res.ExecMSBefore)
	analyzer, err := cost.New(cost.Config{Store: e.cat, Sessions: sess, Fleet: e.fleet, MaxTenantsPerStatement: *maxTenants, Logger: e.log})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "analyzing...")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	timesBefore, err := readStatementTimes(ctx, e.data)
	if err != nil {
		return err
	}
	sampler := startWallSampler("cost.(*Analyzer).Analyze", 20*time.Millisecond)
	start := time.Now()
	analysis, err := analyzer.Analyze(ctx)
	res.AnalyzeS = round3(time.Since(start).Seconds())
	sampler.report(stderr, 15)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	if timesAfter, err := readStatementTimes(ctx, e.data); err == nil {
		printTopStatements(stderr, timesBefore, timesAfter, 12)
	}
	res.Recommendations, res.Incomplete = len(analysis.Recommendations), analysis.Report.Incomplete
	score := scoreCost(plan, *maxTenants, analysis.Recommendations)
	res.Planted, res.Found, res.FalseRecommendations, res.Missing = score.planted, score.found, len(score.falses), score.missing
	for _, f := range score.falses {
		fmt.Fprintln(stderr, "false recommendation:", f)
	}
	fmt.Fprintf(stderr, "analysis: %.2fs, %d recommendations, found %d of %d planted, missing %v\n",
		res.AnalyzeS, res.Recommendations, res.Found, res.Planted, res.Missing)

	if !*skipApply {
		if res.Applied, err = applyIndexes(ctx, cfg, e, sess, analysis.Recommendations, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "workload, after...")
		if res.ExecMSAfter, err = runCostWorkload(ctx, e, plan); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "workload after: %.1f ms of execution\n", res.ExecMSAfter)
		if res.ExecMSBefore > 0 {
			res.Reduction = round3(1 - res.ExecMSAfter/res.ExecMSBefore)
		}
		again, err := analyzer.Analyze(ctx)
		if err != nil {
			return fmt.Errorf("re-analysis: %w", err)
		}
		res.OpenAfter = 0
		for _, r := range again.Recommendations {
			if r.Kind == cost.KindCreateIndex && r.Status == controlplane.RecommendationOpen {
				res.OpenAfter++
			}
		}
	}
	return printResult(stdout, res)
}

// forEachTenant runs fn for every tenant, a few at a time.
func forEachTenant(ctx context.Context, ids []string, fn func(ctx context.Context, id string) error) error {
	const parallel = 8
	ch := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range parallel {
		wg.Go(func() {
			for id := range ch {
				if err := fn(ctx, id); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range ids {
		ch <- id
	}
	close(ch)
	wg.Wait()
	return errors.Join(errs...)
}

// runCostWorkload runs the plan's statements as the tenants, each call
// one scoped transaction of tenants.Pools, and returns the execution time
// pg_stat_statements recorded for them.
func runCostWorkload(ctx context.Context, e *env, plan costPlan) (float64, error) {
	before, err := workloadExecMS(ctx, e)
	if err != nil {
		return 0, err
	}
	err = forEachTenant(ctx, plan.ids, func(ctx context.Context, id string) error {
		hot := 0
		if plan.hot[id] {
			hot = plan.calls
		}
		if id == plan.dominant {
			hot = plan.calls * dominantFactor
		}
		for i := range max(hot, plan.calls) {
			err := e.pools.WithTenant(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
				if i < hot {
					if _, err := tx.Exec(ctx, costHotQuery, int64(i%1000)); err != nil {
						return err
					}
				}
				if i < plan.calls {
					_, err := tx.Exec(ctx, costIndexedQuery, "r"+strconv.Itoa(i*7+1))
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("workload: %w", err)
	}
	after, err := workloadExecMS(ctx, e)
	return round3(after - before), err
}

// workloadExecMS sums pg_stat_statements' execution time of the workload
// statements in the instance database (admin session: statistics only).
func workloadExecMS(ctx context.Context, e *env) (float64, error) {
	var ms float64
	err := e.data.QueryRow(ctx, `SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query = ANY ($1)`,
		[]string{costHotQuery, costIndexedQuery}).Scan(&ms)
	if err != nil {
		return 0, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	return ms, nil
}

// applyIndexes applies every create_index recommendation (cost.Apply)
// through a fleet migration runner with a worker in this process, and
// waits for the runs (each at the runner's default concurrency per
// instance). It returns how many succeeded.
func applyIndexes(ctx context.Context, cfg config.Config, e *env, sess *sessions.Sessions, recs []controlplane.Recommendation, stderr io.Writer) (int, error) {
	migrator, err := migrations.New(migrations.Config{Logger: e.log})
	if err != nil {
		return 0, err
	}
	queueName := "fleetbench-" + e.fleet
	runner, err := migrate.New(migrate.Config{DB: e.cp, Redis: e.rdb, Queue: queue.NewClient(e.rdb), Fleet: e.fleet,
		Migrator: migrator, Sessions: sess, QueueName: queueName, Logger: e.log})
	if err != nil {
		return 0, err
	}
	worker, err := queue.NewWorker(queue.WorkerConfig{Redis: e.rdb, Concurrency: 2 * migrate.DefaultConcurrency, TaskCheckInterval: cfg.TaskCheckInterval,
		Queues: map[string]int{queueName: 1}, Logger: e.log})
	if err != nil {
		return 0, err
	}
	runner.Register(worker)
	if err := worker.Start(ctx); err != nil {
		return 0, err
	}
	defer worker.Stop()
	defer deleteQueue(e, queueName)
	applied := 0
	for _, r := range recs {
		if r.Kind != cost.KindCreateIndex || r.Status != controlplane.RecommendationOpen {
			continue
		}
		a, err := cost.Apply(ctx, e.cat, runner, r.ID, "fleetbench")
		if err != nil {
			return applied, fmt.Errorf("apply %d: %w", r.ID, err)
		}
		start := time.Now()
		st, err := runner.Wait(ctx, a.RunID, 20*time.Millisecond, nil)
		if err != nil {
			return applied, err
		}
		fmt.Fprintf(stderr, "applied %d (%s) to %d tenants: run %d %s in %s\n", r.ID, a.Statement, len(a.Tenants), a.RunID,
			st.Status, time.Since(start).Round(time.Millisecond))
		for _, f := range st.Failed() {
			fmt.Fprintf(stderr, "failed: %s: %s\n", f.TenantID, f.Error)
		}
		if st.Status == migrate.RunSucceeded {
			applied++
		}
	}
	return applied, nil
}
