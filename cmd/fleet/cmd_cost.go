package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func init() {
	commands["cost"] = command{
		summary: "per-tenant cost and verified index advice (fleet cost help)",
		run:     runCostCmd,
	}
}

const costUsage = `usage:
  fleet cost analyze [--wait] [--timeout 30m]
  fleet cost report [--tenant ID] [--json]
  fleet cost apply REC [--wait]
  fleet cost dismiss REC`

func runCostCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "cost", costUsage, map[string]subcommand{
		"analyze": costAnalyze,
		"report":  costReport,
		"apply":   costApply,
		"dismiss": costDismiss,
	}, args)
}

// costAnalyze queues a cost:analyze task for the workers of `fleet run`
// (cost.Requester: one at a time, a second request while one is queued is
// told so). --wait shows the task's state until a report newer than the
// one before the request exists, and fails when the task fails or
// --timeout passes.
func costAnalyze(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "cost analyze")
	wait := fs.Bool("wait", false, "wait for the analysis's report; exit non-zero if it fails")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait, give up after this long")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], costUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var res restapi.CostAnalysisQueuedJSON
		if err := c.post(ctx, "/api/v1/cost/analyze", nil, &res); err != nil {
			return err
		}
		verb := "queued"
		if res.Duplicate {
			verb = "already queued"
		}
		fmt.Fprintf(env.stdout, "cost analysis %s: task %s on queue %s (latest report %d)\n", verb, res.TaskID, res.Queue, res.AfterReportID)
		if !*wait {
			return nil
		}
		wctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("no report after --timeout %s", *timeout))
		defer cancel()
		status := func(ctx context.Context) (cost.AnalysisStatus, error) {
			var st cost.AnalysisStatus
			err := c.get(ctx, "/api/v1/cost/analyze", nil, &st)
			return st, err
		}
		if _, err := cost.WaitForReport(wctx, res.AfterReportID, pollInterval, status, func(p cost.Progress) {
			fmt.Fprintf(env.stderr, "analysis task %s after %s\n", p.State, p.Elapsed.Round(time.Millisecond))
		}); err != nil {
			return err
		}
		var rep restapi.CostReportJSON
		if err := c.get(ctx, "/api/v1/cost", nil, &rep); err != nil {
			return err
		}
		var open restapi.RecommendationListJSON
		if err := c.get(ctx, "/api/v1/recommendations", query("status", "open"), &open); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "report %d: %d instances, %d tenants, fleet %.2f USD/month, %d open recommendations%s\n",
			rep.ID, len(rep.Instances), len(rep.Tenants), rep.FleetMonthlyUSD, len(open.Recommendations),
			map[bool]string{true: " (attribution incomplete)", false: ""}[rep.Incomplete])
		return nil
	})
}

func costReport(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "cost report")
	tenant := fs.String("tenant", "", "only the recommendations naming this tenant")
	asJSON := fs.Bool("json", false, "print JSON (the body of GET /api/v1/recommendations)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], costUsage)
	}
	if *tenant != "" {
		if err := tenants.ValidateID(*tenant); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.RecommendationListJSON
		if err := c.get(ctx, "/api/v1/recommendations", query("tenant", *tenant), &list); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, list)
		}
		printRecommendations(env.stdout, list.Recommendations)
		return nil
	})
}

func printRecommendations(w io.Writer, list []restapi.RecommendationJSON) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no recommendations")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tCOST BEFORE\tAFTER\tUSD/MONTH\tTENANTS\tSTATEMENT")
	for _, r := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%.1f\t%.2f\t%s\t%s\n", r.ID, r.Kind, r.Status, r.CostBefore, r.CostAfter,
			r.MonthlySavingUSD, strings.Join(r.Tenants, ","), r.Statement)
	}
	_ = tw.Flush()
}

// costApply rolls an open create_index recommendation out through the
// fleet migration runner (the workers of `fleet run` build the index as
// each tenant); --wait shows the run's progress, then the recommendation.
func costApply(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "cost apply")
	wait := fs.Bool("wait", false, "show the run's progress until it ends; exit non-zero if any tenant failed")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	id, err := recommendationIDArg(pos)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var res restapi.RecommendationAppliedJSON
		if err := c.post(ctx, recommendationPath(id)+"/apply", nil, &res); err != nil {
			return fmt.Errorf("recommendation %d: %w", id, err)
		}
		if r := res.Replica; r != nil {
			fmt.Fprintf(env.stdout, "recommendation %d: %s: replica %s %s (applied: %v)\n", id, r.Kind, r.ReplicaID, r.Status, r.Applied)
			return nil
		}
		verb := "started"
		if res.Duplicate {
			verb = "was started by an earlier apply"
		}
		fmt.Fprintf(env.stdout, "recommendation %d: migration run %d %s for %d tenants: %s\n", id, res.RunID, verb, len(res.Tenants), res.Statement)
		if !*wait {
			return nil
		}
		runErr := waitRun(ctx, env, c, res.RunID)
		// Reading the recommendation settles it when its run has ended
		// (idempotent), so the answer does not race the worker that closed
		// the run.
		var rec restapi.RecommendationJSON
		if err := c.get(ctx, recommendationPath(id), nil, &rec); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "recommendation %d: %s (%s)\n", id, rec.Status, rec.StatusReason)
		return runErr
	})
}

// recommendationPath is where recommendation id is read.
func recommendationPath(id int64) string {
	return "/api/v1/recommendations/" + strconv.FormatInt(id, 10)
}

// recommendationIDArg is the one positional REC argument.
func recommendationIDArg(pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, fmt.Errorf("%w: %s", errUsage, costUsage)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: recommendation id %q is not a positive integer", errUsage, pos[0])
	}
	return id, nil
}

func costDismiss(ctx context.Context, env *cliEnv, args []string) error {
	id, err := recommendationIDArg(args)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var r restapi.RecommendationJSON
		if err := c.post(ctx, recommendationPath(id)+"/dismiss", nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "recommendation %d dismissed\n", r.ID)
		return nil
	})
}
