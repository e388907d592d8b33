package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["tokens"] = command{
		summary: "create, list and revoke named API tokens (fleet tokens help)",
		run:     runTokensCmd,
	}
}

//nolint:gosec // G101: usage text, not a credential
const tokensUsage = `usage:
  fleet tokens create NAME --role viewer|operator [--json]
  fleet tokens list [--json]
  fleet tokens revoke NAME

create prints the token once (only its SHA-256 is stored): send it as
Authorization: Bearer <token>. A revoked token's name stays taken. The
commands work on the control plane directly and are audited as
local:<your OS user>.`

func runTokensCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "tokens", tokensUsage, map[string]subcommand{
		"create": tokensCreate,
		"list":   tokensList,
		"revoke": tokensRevoke,
	}, args)
}

func tokensCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tokens create")
	role := fs.String("role", "", "viewer or operator (required)")
	asJSON := fs.Bool("json", false, "print JSON (the body of POST /api/v1/tokens)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName(pos, tokensUsage)
	if err != nil {
		return err
	}
	if !auth.Role(*role).Valid() {
		return fmt.Errorf("%w: --role must be viewer or operator", errUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var t restapi.TokenCreatedJSON
		if err := c.post(ctx, "/api/v1/tokens", restapi.TokenRequestBody{Name: name, Role: *role}, &t); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, t)
		}
		fmt.Fprintf(env.stderr, "token %s created (%s); it is shown this once:\n", t.Name, t.Role)
		fmt.Fprintln(env.stdout, t.Token)
		return nil
	})
}

func tokensList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tokens list")
	asJSON := fs.Bool("json", false, "print JSON (the body of GET /api/v1/tokens)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], tokensUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var out restapi.TokenListJSON
		if err := c.get(ctx, "/api/v1/tokens", nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tREVOKED")
		for _, t := range out.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	})
}

func tokensRevoke(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tokens revoke")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName(pos, tokensUsage)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		if err := c.do(ctx, apiCall{method: http.MethodDelete, path: "/api/v1/tokens/" + url.PathEscape(name)}, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "token %s revoked\n", name)
		return nil
	})
}
