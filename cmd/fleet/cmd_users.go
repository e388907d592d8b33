package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

func init() {
	commands["users"] = command{
		summary: "add, list and disable the dashboard's users (fleet users help)",
		run:     runUsersCmd,
	}
}

const usersUsage = `usage:
  fleet users add NAME --role viewer|operator [--password-stdin] [--json]
  fleet users list [--json]
  fleet users disable NAME

add asks for the password twice without echo (12 to 72 bytes), or reads
one line from standard input with --password-stdin. A viewer reads
everything; an operator also acts. disable ends the user's sessions at once.
The commands work on the control plane directly (FLEET_DATABASE_URL) and are
audited as local:<your OS user>; create the first user this way.`

func runUsersCmd(ctx context.Context, env *cliEnv, args []string) error {
	return dispatch(ctx, env, "users", usersUsage, map[string]subcommand{
		"add":     usersAdd,
		"list":    usersList,
		"disable": usersDisable,
	}, args)
}

// oneName parses the command line of a sub-command taking exactly one
// NAME.
func oneName(pos []string, usage string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: want one NAME\n%s", errUsage, usage)
	}
	return pos[0], nil
}

func usersAdd(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "users add")
	role := fs.String("role", "", "viewer or operator (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	asJSON := fs.Bool("json", false, "print JSON (the body of POST /api/v1/users)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName(pos, usersUsage)
	if err != nil {
		return err
	}
	if !auth.Role(*role).Valid() {
		return fmt.Errorf("%w: --role must be viewer or operator", errUsage)
	}
	password, err := readPassword(env, *fromStdin)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var u restapi.UserJSON
		if err := c.post(ctx, "/api/v1/users", restapi.UserRequestBody{Name: name, Role: *role, Password: password}, &u); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, u)
		}
		fmt.Fprintf(env.stdout, "user %s added (%s)\n", u.Name, u.Role)
		return nil
	})
}

// readPassword reads the new user's password: one line of standard input
// with --password-stdin, else twice from the terminal without echo.
func readPassword(env *cliEnv, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", fmt.Errorf("%w: --password-stdin: standard input holds no password", errUsage)
		}
		return line, nil
	}
	f, ok := env.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%w: no terminal to ask the password on: use --password-stdin", errUsage)
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(env.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		return string(b), err
	}
	first, err := ask("Password: ")
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	again, err := ask("Password again: ")
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if first != again {
		return "", errors.New("the two passwords differ")
	}
	return first, nil
}

func usersList(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "users list")
	asJSON := fs.Bool("json", false, "print JSON (the body of GET /api/v1/users)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q\n%s", errUsage, pos[0], usersUsage)
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		var out restapi.UserListJSON
		if err := c.get(ctx, "/api/v1/users", nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tDISABLED")
		for _, u := range out.Users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Format(time.RFC3339), when(u.DisabledAt))
		}
		return tw.Flush()
	})
}

// when formats an optional time, "-" when unset.
func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func usersDisable(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "users disable")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName(pos, usersUsage)
	if err != nil {
		return err
	}
	return withAPI(ctx, env, func(c *apiClient) error {
		if err := c.post(ctx, "/api/v1/users/"+url.PathEscape(name)+"/disable", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "user %s disabled; its sessions ended\n", name)
		return nil
	})
}
