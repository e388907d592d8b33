package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["health"] = command{
		summary: "latest health of the instances and tenants (fleet health --help)",
		run:     runHealthCmd,
	}
}

const healthUsage = `usage:
  fleet health [--instance ID] [--tenant ID] [--drains N] [--json]
      the latest health sweep of each instance (or one), its tenants' figures
      (or one tenant's), and the latest sessions the sweeps terminated`

func runHealthCmd(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "health")
	instance := fs.String("instance", "", "only this instance")
	tenant := fs.String("tenant", "", "only this tenant")
	drains := fs.Int("drains", 10, "show this many terminated sessions (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], healthUsage)
	}
	if *instance != "" && !restapi.ValidInstanceID(*instance) {
		return fmt.Errorf("%w: --instance %q is not an instance id", errUsage, *instance)
	}
	if err := tenantFlag(*tenant); err != nil {
		return err
	}
	if *drains < 1 || *drains > 1000 {
		return fmt.Errorf("%w: --drains must be between 1 and 1000", errUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var v restapi.HealthJSON
		if err := c.get(ctx, "/api/v1/health", query("instance", *instance, "tenant", *tenant, "drains", strconv.Itoa(*drains)), &v); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, v)
		}
		return printHealth(env, v)
	})
}

func printHealth(env *cliEnv, v restapi.HealthJSON) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tUP\tPING\tCONNS (DB/SERVER/MAX)\tIDLE-IN-TX\tLONG\tBLOCKED\tCAPACITY\tDRAINED\tCHECKED (UTC)\tERROR")
	for _, h := range v.Instances {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d/%d/%d\t%d\t%d\t%d\t%.0f%%\t%d\t%s\t%s\n", h.InstanceID, h.Up,
			(time.Duration(h.PingSeconds * float64(time.Second))).Round(time.Microsecond), h.Connections, h.ServerConnections,
			h.MaxConnections, h.IdleInTransaction, h.LongRunning, h.Blocked, 100*h.CapacityRatio, h.DrainedTotal,
			h.CheckedAt.UTC().Format(time.RFC3339), h.Error)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "TENANT\tINSTANCE\tCONNS\tXID AGE\tCATALOG\tCHECKED (UTC)")
	for _, t := range v.Tenants {
		catalog := "ok"
		if !t.CatalogOK {
			catalog = strings.Join(t.Problems, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", t.TenantID, t.InstanceID, t.Connections, t.XIDAge, catalog,
			t.CheckedAt.UTC().Format(time.RFC3339))
	}
	if len(v.Drains) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "TERMINATED (UTC)\tINSTANCE\tTENANT\tPID\tUSER\tIDLE")
		for _, d := range v.Drains {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.0fs\n", d.TerminatedAt.UTC().Format(time.RFC3339), d.InstanceID,
				d.TenantID, d.PID, d.UserName, d.IdleSeconds)
		}
	}
	return tw.Flush()
}
