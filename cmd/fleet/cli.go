package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one `fleet` subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
	// hidden keeps it out of `fleet help` (the completion scripts' helper).
	hidden bool
}

// cliEnv is what every subcommand gets: the environment, the input and
// the outputs.
type cliEnv struct {
	getenv func(string) string
	// stdin is the process's standard input under main (a terminal for
	// password prompts, or `--password-stdin`); empty under run.
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// errUsage marks a command line that could not be understood; the process
// exits 2.
var errUsage = errors.New("usage")

// commands lists the subcommands; files named cmd_*.go add theirs in init.
var commands = map[string]command{}

// run is main without the process: it parses args and runs a subcommand,
// with an empty standard input.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithInput(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runWithInput is run with stdin as the standard input.
func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &cliEnv{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		printHelp(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	if err := refuseRemote(env, args); err != nil {
		return err
	}
	return cmd.run(ctx, env, args[1:])
}

func printHelp(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: fleet <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nConfiguration comes from FLEET_* environment variables (see README); `fleet config` prints it.\n")
	_, _ = io.WriteString(w, b.String())
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
