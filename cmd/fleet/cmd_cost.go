package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

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
  fleet cost analyze [--wait]
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

// costAnalyze runs one analysis in this process. --wait is accepted for
// the surface; the analysis always completes before the command
// returns (the scheduler's daily cost:analyze task is not wired yet).
func costAnalyze(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "cost analyze")
	_ = fs.Bool("wait", true, "wait for the analysis (always, for now)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], costUsage)
	}
	return withApp(ctx, env, func(a *app) error {
		s, an, err := wiring.NewCostAnalyzer(ctx, a.conns())
		if err != nil {
			return err
		}
		defer s.Close()
		res, err := an.Analyze(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "report %d: %d instances, %d tenants, fleet %.2f USD/month, %d recommendations%s\n",
			res.ReportID, len(res.Report.Instances), len(res.Report.Tenants), res.Report.FleetMonthlyUSD,
			len(res.Recommendations), map[bool]string{true: " (attribution incomplete)", false: ""}[res.Report.Incomplete])
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
		r, err := cost.Dismiss(ctx, controlplane.NewStore(a.db), id, "fleet cost dismiss")
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
