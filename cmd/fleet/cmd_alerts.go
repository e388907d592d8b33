package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["alerts"] = command{
		summary: "list, acknowledge and silence alerts (fleet alerts help)",
		run:     runAlertsCmd,
	}
}

const alertsUsage = `usage:
  fleet alerts list [--all] [--kind K] [--subject S] [--limit N] [--json]
  fleet alerts ack ID [--json]
  fleet alerts silence SUBJECT --for 2h [--kind K] [--reason TEXT] [--json]
  fleet alerts silences [--json]`

func runAlertsCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "alerts", alertsUsage, map[string]subcommand{
		"list":     alertsList,
		"ack":      alertsAck,
		"silence":  alertsSilence,
		"silences": alertsSilences,
	}, args)
}

func alertsList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "alerts list")
	all := fs.Bool("all", false, "include resolved alerts (the history)")
	kind := fs.String("kind", "", "only this kind")
	subject := fs.String("subject", "", "only this subject, instance or tenant")
	limit := fs.Int("limit", 100, "at most this many, newest first")
	asJSON := fs.Bool("json", false, "print JSON (the body of GET /api/v1/alerts)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], alertsUsage)
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("%w: --limit must be 1 to 1000", errUsage)
	}
	status := "open"
	if *all {
		status = "all"
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.AlertListJSON
		if err := c.get(ctx, "/api/v1/alerts", query("status", status, "kind", *kind, "subject", *subject,
			"limit", strconv.Itoa(*limit)), &list); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, list)
		}
		printAlerts(env.stdout, list.Alerts)
		return nil
	})
}

func printAlerts(w io.Writer, list []alerts.Alert) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no alerts")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tKIND\tSUBJECT\tSINCE\tNOTIFIED\tACKED BY\tSUMMARY")
	for _, a := range list {
		status := a.Status
		if a.InhibitedBy != 0 && a.Status == alerts.StatusFiring {
			status += " (inhibited by " + strconv.FormatInt(a.InhibitedBy, 10) + ")"
		}
		summary := a.Summary
		if len(a.AffectedTenants) > 0 {
			summary += " [tenants: " + strings.Join(a.AffectedTenants, ", ") + "]"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, status, a.Severity, a.Kind, a.Subject,
			a.StartedAt.UTC().Format(time.RFC3339), a.Notifications, a.AckedBy, summary)
	}
	_ = tw.Flush()
}

func alertsAck(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "alerts ack")
	asJSON := fs.Bool("json", false, "print the alert as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: expected one alert id\n%s", errUsage, alertsUsage)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: alert id %q is not a positive number", errUsage, pos[0])
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var a alerts.Alert
		if err := c.post(ctx, "/api/v1/alerts/"+strconv.FormatInt(id, 10)+"/ack", nil, &a); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, a)
		}
		fmt.Fprintf(env.stdout, "alert %d (%s on %s) acknowledged by %s\n", a.ID, a.Kind, a.Subject, a.AckedBy)
		return nil
	})
}

func alertsSilence(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "alerts silence")
	d := fs.Duration("for", 0, "how long, e.g. 2h (required; at most 90 days)")
	kind := fs.String("kind", "", "only this kind (default: every kind)")
	reason := fs.String("reason", "", "why, for the record")
	asJSON := fs.Bool("json", false, "print the silence as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *d == 0 {
		return fmt.Errorf("%w: expected one subject and --for\n%s", errUsage, alertsUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var s alerts.Silence
		if err := c.post(ctx, "/api/v1/silences", restapi.SilenceRequestBody{
			Subject: pos[0], Kind: alerts.Kind(*kind), Duration: d.String(), Reason: *reason,
		}, &s); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, s)
		}
		fmt.Fprintf(env.stdout, "silence %d: %s muted until %s\n", s.ID, s.Subject, s.EndsAt.UTC().Format(time.RFC3339))
		return nil
	})
}

func alertsSilences(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "alerts silences")
	asJSON := fs.Bool("json", false, "print JSON (the body of GET /api/v1/silences)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, pos[0])
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.SilenceListJSON
		if err := c.get(ctx, "/api/v1/silences", nil, &list); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, list)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSUBJECT\tKIND\tUNTIL\tBY\tREASON")
		for _, s := range list.Silences {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Subject, s.Kind, s.EndsAt.UTC().Format(time.RFC3339), s.CreatedBy, s.Reason)
		}
		return tw.Flush()
	})
}
