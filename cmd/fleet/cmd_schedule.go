package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["schedule"] = command{
		summary: "list the scheduler's periodic entries and their next runs (fleet schedule list [--json])",
		run:     runScheduleCmd,
	}
}

const scheduleUsage = `usage:
  fleet schedule list [--json]   every periodic entry with its next run (UTC)`

func runScheduleCmd(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprintln(env.stdout, scheduleUsage)
		return nil
	}
	if args[0] != "list" {
		fmt.Fprintln(env.stderr, scheduleUsage)
		return fmt.Errorf("%w: unknown schedule command %q", errUsage, args[0])
	}
	fs := newFlags(env, "schedule list")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterleaved(fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], scheduleUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.ScheduleJSON
		if err := c.get(ctx, "/api/v1/schedule", nil, &list); err != nil {
			return err
		}
		entries := list.Entries
		if *asJSON {
			return printJSON(env.stdout, entries)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ENTRY\tSCHEDULE\tNEXT (UTC)\tNOTE")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Spec, e.Next.Format(time.RFC3339), e.Note)
		}
		return tw.Flush()
	})
}
