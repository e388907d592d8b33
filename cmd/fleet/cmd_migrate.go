package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["migrate"] = command{
		summary: "roll tenant schema migrations across the fleet (fleet migrate help)",
		run:     runMigrateCmd,
	}
}

const migrateUsage = `usage:
  fleet migrate up [--tenants a,b,...] [--instance X] [--concurrency 5] [--canary N]
                   [--idempotency-key KEY] [--wait]
  fleet migrate status [RUN] [--json]     (default: the latest run)
  fleet migrate retry RUN [--wait]        (re-runs only the failed tenants)`

// errTenantsFailed makes `migrate up --wait` exit non-zero when any tenant
// failed.
var errTenantsFailed = errors.New("some tenants failed")

func runMigrateCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "migrate", migrateUsage, map[string]subcommand{
		"up":     migrateUp,
		"status": migrateStatus,
		"retry":  migrateRetry,
	}, args)
}

func migrateUp(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "migrate up")
	tenantList := fs.String("tenants", "", "comma-separated tenant ids (default: every active tenant)")
	instance := fs.String("instance", "", "only the tenants of this instance")
	concurrency := fs.Int("concurrency", 5, fmt.Sprintf("tenants migrating at once per instance, fleet-wide (1 to %d)", migrate.MaxConcurrency))
	canary := fs.Int("canary", 0, fmt.Sprintf("migrate this many tenants first; stop the run if one fails (at most %d)", migrate.MaxCanary))
	wait := fs.Bool("wait", false, "show progress until the run ends; exit non-zero if any tenant failed")
	key := fs.String("idempotency-key", "", "start at most one run for this key: repeated, it names the run the key started")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], migrateUsage)
	}
	if *concurrency < 1 || *canary < 0 {
		return fmt.Errorf("%w: --concurrency must be at least 1 and --canary not negative", errUsage)
	}
	body := restapi.MigrationStartBody{
		Tenants: config.SplitList(*tenantList), Instance: *instance, Concurrency: *concurrency, Canary: *canary,
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var st restapi.MigrationStartedJSON
		if err := c.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/migrations", body: body, idempotencyKey: *key}, &st); err != nil {
			return err
		}
		id := st.ID
		if st.Duplicate {
			fmt.Fprintf(env.stdout, "migration run %d was started with this idempotency key (%s)\n", id, st.Status)
		} else {
			fmt.Fprintf(env.stdout, "migration run %d started\n", id)
		}
		if !*wait {
			return nil
		}
		return waitRun(ctx, env, c, id)
	})
}

func migrateRetry(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "migrate retry")
	wait := fs.Bool("wait", false, "show progress until the run ends")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	id, err := runIDArg(pos, true)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var res restapi.MigrationRetriedJSON
		if err := c.post(ctx, runPath(id)+"/retry", nil, &res); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "run %d: retrying %d failed tenants\n", id, res.Retried)
		if !*wait || res.Retried == 0 {
			return nil
		}
		return waitRun(ctx, env, c, id)
	})
}

func migrateStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "migrate status")
	asJSON := fs.Bool("json", false, "print JSON with every tenant's result")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	id, err := runIDArg(pos, false)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		path := "/api/v1/migrations/latest"
		if id != 0 {
			path = runPath(id)
		}
		var st restapi.MigrationRunJSON
		if err := c.get(ctx, path, nil, &st); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, st)
		}
		printRunSummary(env.stdout, st)
		return nil
	})
}

// runIDArg reads the optional (or required) run id argument.
func runIDArg(pos []string, required bool) (int64, error) {
	if len(pos) == 0 && !required {
		return 0, nil
	}
	if len(pos) != 1 {
		return 0, fmt.Errorf("%w: expected one run id\n%s", errUsage, migrateUsage)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: run id %q is not a positive number", errUsage, pos[0])
	}
	return id, nil
}

// runPath is where run id is read.
func runPath(id int64) string { return "/api/v1/migrations/" + strconv.FormatInt(id, 10) }

// waitRun polls the run's progress, showing a progress bar until it ends,
// then the summary with every failed tenant.
func waitRun(ctx context.Context, env *cliEnv, c *apiClient, id int64) error {
	err := poll(ctx, func() (bool, error) {
		var st restapi.MigrationRunJSON
		if err := c.get(ctx, runPath(id), query("view", "progress"), &st); err != nil {
			return false, err
		}
		fmt.Fprintf(env.stdout, "\r%s", progressLine(st))
		return migrate.RunState(st.Status).Finished(), nil
	})
	fmt.Fprintln(env.stdout)
	if err != nil {
		return fmt.Errorf("wait for run %d: %w", id, err)
	}
	var full restapi.MigrationRunJSON
	if err := c.get(ctx, runPath(id), nil, &full); err != nil {
		return err
	}
	printRunSummary(env.stdout, full)
	if full.Counts.Failed > 0 {
		return fmt.Errorf("run %d: %d of %d %w", id, full.Counts.Failed, full.Counts.Total, errTenantsFailed)
	}
	return nil
}

// progressLine renders a run's counts as a 30-character bar.
func progressLine(st restapi.MigrationRunJSON) string {
	const width = 30
	c := st.Counts
	finished := c.Succeeded + c.Failed
	done := 0
	if c.Total > 0 {
		done = finished * width / c.Total
	}
	bar := strings.Repeat("#", done) + strings.Repeat(".", width-done)
	line := fmt.Sprintf("[%s] %d/%d  ok %d  failed %d  running %d  paused %d", bar, finished, c.Total, c.Succeeded, c.Failed, c.Running, c.Paused)
	if c.Paused > 0 && st.Reason != "" {
		line += "  (" + st.Reason + ")"
	}
	return line
}

func printRunSummary(w io.Writer, st restapi.MigrationRunJSON) {
	c := st.Counts
	fmt.Fprintf(w, "run %d: %s (phase %s), target version %d, concurrency %d\n", st.ID, st.Status, st.Phase, st.TargetVersion, st.Concurrency)
	fmt.Fprintf(w, "tenants %d: succeeded %d, failed %d, running %d, paused %d, pending %d\n", c.Total, c.Succeeded, c.Failed, c.Running, c.Paused, c.Pending)
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	var failed []restapi.MigrationTenantJSON
	for _, t := range st.Tenants {
		if t.Status == string(migrate.TenantFailed) {
			failed = append(failed, t)
		}
	}
	if len(failed) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED TENANT\tINSTANCE\tATTEMPTS\tERROR")
	for _, f := range failed {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.TenantID, f.Instance, f.Attempts, f.Error)
	}
	_ = tw.Flush()
}
