package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func init() {
	commands["tenants"] = command{
		summary: "list, show, onboard, retry, offboard and purge tenants (fleet tenants help)",
		run:     runTenants,
	}
	commands["instances"] = command{
		summary: "list instances with their tenant counts (fleet instances list [--json])",
		run:     runInstances,
	}
}

const tenantsUsage = `usage:
  fleet tenants list [--status S] [--tier T] [--instance I] [--json]
  fleet tenants show ID [--json]
  fleet tenants onboard ID --name NAME [--tier shared|dedicated] [--isolation pooled|strict] [--restore] [--wait]
  fleet tenants set-isolation ID pooled|strict
  fleet tenants retry ID [--wait]
  fleet tenants offboard ID [--drop] [--wait]
  fleet tenants purge ID [--wait]

An offboarded tenant can be onboarded again: with a fresh schema, or with
--restore its newest archived schema back (migrated to the latest version).
purge drops an offboarded tenant's archived schemas and its role; the audit
history stays. set-isolation changes an active tenant's isolation level
(audited): strict runs its application work on connections logged in as
its own role (docs/tenants.md).`

func runTenants(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "tenants", tenantsUsage, map[string]subcommand{
		"list":    tenantsList,
		"show":    tenantsShow,
		"onboard": tenantsOnboard,
		"retry":   tenantsRetry,
		"offboard": func(ctx context.Context, env *cliEnv, args []string) error {
			return tenantsOffboard(ctx, env, args, false)
		},
		"purge": func(ctx context.Context, env *cliEnv, args []string) error {
			return tenantsOffboard(ctx, env, args, true)
		},
		"set-isolation": tenantsSetIsolation,
	}, args)
}

// newFlags returns a flag set writing its errors to stderr.
func newFlags(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// parseInterleaved parses flags that may come before or after positional
// arguments (`show ID --json` and `show --json ID` both work).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// withApp loads the configuration, opens the app for the duration of fn
// and closes it.
func withApp(ctx context.Context, env *cliEnv, fn func(a *app) error) error {
	cfg, err := config.Load(env.getenv)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a)
}

func tenantsList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tenants list")
	status := fs.String("status", "", "only tenants with this status")
	tier := fs.String("tier", "", "only tenants of this tier (shared, dedicated)")
	instance := fs.String("instance", "", "only tenants on this instance")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	filter, err := restapi.TenantFilterFrom(*status, *tier, *instance)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.TenantListJSON
		if err := c.get(ctx, "/api/v1/tenants", query("status", string(filter.Status), "tier", string(filter.Tier), "instance", filter.InstanceID), &list); err != nil {
			return err
		}
		views := list.Tenants
		if *asJSON {
			return printJSON(env.stdout, views)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTIER\tSTATUS\tINSTANCE\tSCHEMA")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Tier, v.Status, v.Instance, v.Schema)
		}
		return tw.Flush()
	})
}

func tenantsShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tenants show")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: fleet tenants show ID [--json]", errUsage)
	}
	if err := tenants.ValidateID(pos[0]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var v restapi.TenantJSON
		if err := c.get(ctx, tenantPath(pos[0], ""), nil, &v); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, v)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{
			{"id", v.ID}, {"name", v.Name}, {"tier", v.Tier}, {"isolation", v.Isolation}, {"status", v.Status}, {"reason", v.StatusReason},
			{"instance", v.Instance}, {"database", v.Database}, {"schema", v.Schema}, {"role", v.Role},
			{"created", v.CreatedAt.Format(time.RFC3339)},
		} {
			fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	})
}

func tenantsOnboard(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tenants onboard")
	name := fs.String("name", "", "display name (required)")
	tier := fs.String("tier", "shared", "shared or dedicated")
	isolation := fs.String("isolation", "pooled", "pooled or strict: strict runs the tenant's work on connections logged in as its own role")
	restore := fs.Bool("restore", false, "onboard an offboarded tenant again with its newest archived schema")
	wait := fs.Bool("wait", false, "wait until the tenant is active or failed")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *name == "" {
		return fmt.Errorf("%w: fleet tenants onboard ID --name NAME [--tier shared|dedicated] [--isolation pooled|strict] [--restore] [--wait]", errUsage)
	}
	level, err := tenants.ParseIsolation(*isolation)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var acc restapi.OnboardingAcceptedJSON
		if err := c.post(ctx, "/api/v1/tenants", restapi.OnboardRequestBody{
			TenantID: pos[0], Name: *name, Tier: *tier, Isolation: string(level), Restore: *restore,
		}, &acc); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "onboarding %s: request %d, task %s (%s)\n", acc.TenantID, acc.RequestID, acc.TaskID, acc.Status)
		if !*wait {
			return nil
		}
		return waitOnboarded(ctx, env, c, acc)
	})
}

// waitOnboarded polls the accepted request until it is done or failed.
func waitOnboarded(ctx context.Context, env *cliEnv, c *apiClient, acc restapi.OnboardingAcceptedJSON) error {
	var rec restapi.OnboardingJSON
	if err := poll(ctx, func() (bool, error) {
		err := c.get(ctx, "/api/v1/intake/"+strconv.FormatInt(acc.RequestID, 10), nil, &rec)
		return rec.Status == string(intake.StatusDone) || rec.Status == string(intake.StatusFailed), err
	}); err != nil {
		return err
	}
	if rec.Status != string(intake.StatusDone) {
		return fmt.Errorf("onboarding %s %s: %s", rec.TenantID, rec.Status, rec.Error)
	}
	fmt.Fprintf(env.stdout, "tenant %s is active\n", rec.TenantID)
	return nil
}

// tenantPath is /api/v1/tenants/ID, then /action when set.
func tenantPath(id, action string) string {
	p := "/api/v1/tenants/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// tenantsRetry sends a failed tenant's onboarding round again.
func tenantsRetry(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tenants retry")
	wait := fs.Bool("wait", false, "wait until the tenant is active or failed")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: fleet tenants retry ID [--wait]", errUsage)
	}
	if err := tenants.ValidateID(pos[0]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var acc restapi.OnboardingAcceptedJSON
		if err := c.post(ctx, tenantPath(pos[0], "retry"), nil, &acc); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "retrying %s: request %d, task %s (%s)\n", acc.TenantID, acc.RequestID, acc.TaskID, acc.Status)
		if !*wait {
			return nil
		}
		return waitOnboarded(ctx, env, c, acc)
	})
}

// tenantsSetIsolation changes an active tenant's isolation level through
// the provisioning agent (audited, route published).
func tenantsSetIsolation(ctx context.Context, env *cliEnv, args []string) error {
	const usage = "fleet tenants set-isolation ID pooled|strict"
	pos, err := parseInterleaved(newFlags(env, "tenants set-isolation"), args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[1] == "" {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	if err := tenants.ValidateID(pos[0]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	level, err := tenants.ParseIsolation(pos[1])
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var t restapi.TenantJSON
		if err := c.post(ctx, tenantPath(pos[0], "isolation"), restapi.IsolationRequestBody{Isolation: string(level)}, &t); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "tenant %s isolation: %s\n", t.ID, t.Isolation)
		return nil
	})
}

// tenantsOffboard offboards a tenant (archive, or drop), or with purge
// purges an offboarded one, through the offboarding outbox.
func tenantsOffboard(ctx context.Context, env *cliEnv, args []string, purge bool) error {
	name, usage := "offboard", "fleet tenants offboard ID [--drop] [--wait]"
	if purge {
		name, usage = "purge", "fleet tenants purge ID [--wait]"
	}
	fs := newFlags(env, "tenants "+name)
	drop := new(bool)
	if !purge {
		drop = fs.Bool("drop", false, "drop the schema, its archives and the role (a dedicated tenant's instance) instead of archiving")
	}
	wait := fs.Bool("wait", false, "wait until the request is done or failed")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	action := offboard.ActionArchive
	switch {
	case purge:
		action = offboard.ActionPurge
	case *drop:
		action = offboard.ActionDrop
	}
	if err := tenants.ValidateID(pos[0]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var (
			acc  restapi.OffboardingAcceptedJSON
			body any = restapi.OffboardRequestBody{Drop: *drop}
		)
		if purge {
			body = struct{}{}
		}
		if err := c.post(ctx, tenantPath(pos[0], name), body, &acc); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s %s: request %d, task %s (%s)\n", action, acc.TenantID, acc.RequestID, acc.TaskID, acc.Status)
		if !*wait {
			return nil
		}
		var rec restapi.OffboardingJSON
		if err := poll(ctx, func() (bool, error) {
			err := c.get(ctx, "/api/v1/offboardings/"+strconv.FormatInt(acc.RequestID, 10), nil, &rec)
			return rec.Status == string(offboard.StatusDone) || rec.Status == string(offboard.StatusFailed), err
		}); err != nil {
			return err
		}
		if rec.Status != string(offboard.StatusDone) {
			return fmt.Errorf("%s %s %s: %s", action, rec.TenantID, rec.Status, rec.Error)
		}
		if purge {
			fmt.Fprintf(env.stdout, "tenant %s is purged\n", rec.TenantID)
		} else {
			fmt.Fprintf(env.stdout, "tenant %s is offboarded\n", rec.TenantID)
		}
		return nil
	})
}

const instancesUsage = `usage:
  fleet instances list [--json]`

func runInstances(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "instances", instancesUsage, map[string]subcommand{"list": instancesList}, args)
}

func instancesList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "instances list")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var list restapi.InstanceListJSON
		if err := c.get(ctx, "/api/v1/instances", nil, &list); err != nil {
			return err
		}
		views := list.Instances
		if *asJSON {
			return printJSON(env.stdout, views)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tTIER\tSTATUS\tTENANTS\tHOST\tDATABASE")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s:%d\t%s\n", v.ID, v.Provider, v.Tier, v.Status, v.Tenants, v.MaxTenants, v.Host, v.Port, v.Database)
		}
		return tw.Flush()
	})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cliUser names the operator for the audit log.
func cliUser() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
