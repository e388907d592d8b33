package main

import (
	"context"
	"fmt"
)

// subcommand runs one sub-command of a command group with the arguments
// after its name.
type subcommand func(ctx context.Context, env *cliEnv, args []string) error

// dispatch runs the sub-command args[0] of group: no argument or "help"
// prints usage; an unknown one prints usage to stderr and is a usage
// error.
func dispatch(ctx context.Context, env *cliEnv, group, usage string, cmds map[string]subcommand, args []string) error {
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprintln(env.stdout, usage)
		return nil
	}
	if run, ok := cmds[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	fmt.Fprintln(env.stderr, usage)
	return fmt.Errorf("%w: unknown %s command %q", errUsage, group, args[0])
}
