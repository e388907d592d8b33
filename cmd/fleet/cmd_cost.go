package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

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
  fleet cost dismiss REC`

func runCostCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprintln(env.stdout, costUsage)
		return nil
	}
	switch args[0] {
	case "analyze":
		return costAnalyze(ctx, env, args[1:])
	case "report":
		return costReport(ctx, env, args[1:])
	case "dismiss":
		return costDismiss(ctx, env, args[1:])
	}
	fmt.Fprintln(env.stderr, costUsage)
	return fmt.Errorf("%w: unknown cost command %q", errUsage, args[0])
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

func costDismiss(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: %s", errUsage, costUsage)
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("%w: recommendation id %q is not a positive integer", errUsage, args[0])
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
