package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func init() {
	commands["batch"] = command{
		summary: "tenant batch jobs: slots and next runs, recorded runs (fleet batch help)",
		run:     runBatchCmd,
	}
}

const batchUsage = `usage:
  fleet batch list [--tenant ID] [--json]   each active tenant's slot and next run per job kind (UTC)
  fleet batch runs [--tenant ID] [--kind K] [--limit N] [--json]
                                            recorded runs, latest first`

func runBatchCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "batch", batchUsage, map[string]subcommand{
		"list": batchList,
		"runs": batchRuns,
	}, args)
}

// tenantFlag checks an optional --tenant value at the edge.
func tenantFlag(id string) error {
	if id == "" {
		return nil
	}
	if err := tenants.ValidateID(id); err != nil {
		return fmt.Errorf("%w: --tenant: %w", errUsage, err)
	}
	return nil
}

func batchList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "batch list")
	tenant := fs.String("tenant", "", "only this tenant")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], batchUsage)
	}
	if err := tenantFlag(*tenant); err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.BatchUpcomingListJSON
		if err := c.get(ctx, "/api/v1/batch", query("tenant", *tenant), &list); err != nil {
			return err
		}
		upcoming := list.Upcoming
		if *asJSON {
			return printJSON(env.stdout, upcoming)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tKIND\tSLOT\tNEXT RUN (UTC)\tTASK ID")
		for _, u := range upcoming {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", u.TenantID, u.Kind, u.Slot, u.NextRun.Format(time.RFC3339),
				batch.RunTaskID(u.Kind, u.TenantID, u.NextRun))
		}
		return tw.Flush()
	})
}

func batchRuns(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "batch runs")
	tenant := fs.String("tenant", "", "only this tenant's runs")
	kind := fs.String("kind", "", "only this job kind's runs")
	limit := fs.Int("limit", 50, "at most this many runs (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], batchUsage)
	}
	if err := tenantFlag(*tenant); err != nil {
		return err
	}
	if *kind != "" && !queue.ValidBatchKind(*kind) {
		return fmt.Errorf("%w: --kind %q is not a job kind name", errUsage, *kind)
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("%w: --limit must be between 1 and 1000", errUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.BatchRunListJSON
		if err := c.get(ctx, "/api/v1/batch/runs", query("tenant", *tenant, "kind", *kind, "limit", strconv.Itoa(*limit)), &list); err != nil {
			return err
		}
		runs := list.Runs
		if *asJSON {
			return printJSON(env.stdout, runs)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tTENANT\tSLOT (UTC)\tOUTCOME\tATTEMPTS\tSTARTED\tDURATION\tERROR")
		for _, r := range runs {
			took := "-"
			if r.FinishedAt != nil {
				took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Kind, r.TenantID, r.Slot.Format(time.RFC3339),
				r.Outcome, r.Attempts, r.StartedAt.UTC().Format(time.RFC3339), took, r.Error)
		}
		return tw.Flush()
	})
}
