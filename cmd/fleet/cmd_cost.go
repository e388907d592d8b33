package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/wiring"
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
	return withApp(ctx, env, func(a *app) error {
		req := cost.Requester{Store: controlplane.NewStore(a.db), Queue: a.queue}
		res, err := req.RequestAnalysis(ctx, cliUser())
		if err != nil {
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
		row, err := req.Wait(wctx, res, 250*time.Millisecond, func(p cost.Progress) {
			fmt.Fprintf(env.stderr, "analysis task %s after %s\n", p.State, p.Elapsed.Round(time.Millisecond))
		})
		if err != nil {
			return err
		}
		var rep cost.Report
		if err := json.Unmarshal(row.Report, &rep); err != nil {
			return err
		}
		recs, err := controlplane.NewStore(a.db).ListRecommendations(ctx, controlplane.RecommendationFilter{Status: controlplane.RecommendationOpen})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "report %d: %d instances, %d tenants, fleet %.2f USD/month, %d open recommendations%s\n",
			row.ID, len(rep.Instances), len(rep.Tenants), rep.FleetMonthlyUSD, len(recs),
			map[bool]string{true: " (attribution incomplete)", false: ""}[row.Incomplete])
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
	return withApp(ctx, env, func(a *app) error {
		list, err := controlplane.NewStore(a.db).ListRecommendations(ctx, controlplane.RecommendationFilter{TenantID: *tenant})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, restapi.RecommendationsJSON(list))
		}
		printRecommendations(env.stdout, list)
		return nil
	})
}

func printRecommendations(w io.Writer, list []controlplane.Recommendation) {
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
	return withApp(ctx, env, func(a *app) error {
		s, err := wiring.NewMigrationRunner(ctx, a.conns())
		if err != nil {
			return err
		}
		defer s.Close()
		store := controlplane.NewStore(a.db)
		res, err := cost.Apply(ctx, store, s.Migrate, id, cliUser())
		if errors.Is(err, controlplane.ErrRecommendationNotOpen) || errors.Is(err, cost.ErrNotApplicable) {
			return fmt.Errorf("recommendation %d: %w", id, err)
		}
		if err != nil {
			return err
		}
		verb := "started"
		if res.Duplicate {
			verb = "was started by an earlier apply"
		}
		fmt.Fprintf(env.stdout, "recommendation %d: migration run %d %s for %d tenants: %s\n", id, res.RunID, verb, len(res.Tenants), res.Statement)
		if !*wait {
			return nil
		}
		runErr := waitRun(ctx, env, s.Migrate, res.RunID)
		// The worker that closed the run settles the recommendation; settle
		// again (idempotent) so the answer does not race it.
		if err := store.SettleRecommendationsOfRun(ctx, res.RunID); err != nil {
			return err
		}
		rec, err := store.GetRecommendation(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "recommendation %d: %s (%s)\n", id, rec.Status, rec.StatusReason)
		return runErr
	})
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
	return withApp(ctx, env, func(a *app) error {
		r, err := controlplane.NewStore(a.db).SetRecommendationStatus(ctx, id, controlplane.RecommendationDismissed, "dismissed with fleet cost dismiss", nil)
		if errors.Is(err, controlplane.ErrRecommendationNotOpen) {
			return fmt.Errorf("recommendation %d is not open: %w", id, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "recommendation %d dismissed\n", r.ID)
		return nil
	})
}
