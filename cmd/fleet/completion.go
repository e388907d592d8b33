package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

func init() {
	commands["completion"] = command{
		summary: "print a shell completion script (fleet completion bash|zsh|fish)",
		run:     runCompletion,
	}
	commands[completeCommand] = command{hidden: true, run: runComplete}
}

// completeCommand is the hidden command the completion scripts call with
// the words typed so far; it prints the candidates, one a line.
const completeCommand = "__complete"

// completionNode is a command of the completion tree: its flags (a
// trailing "=" marks one that takes a value), sub-commands, and the values
// of its positional arguments.
type completionNode struct {
	flags []string
	subs  map[string]*completionNode
	args  []string
}

// completionTree lists every command, sub-command and flag for the
// completion scripts. completion_test.go checks it against each command's
// own flag set and usage, both ways, so it cannot drift.
var completionTree = map[string]*completionNode{
	"alerts": {subs: map[string]*completionNode{
		"list":     {flags: []string{"all", "kind=", "subject=", "limit=", "json"}},
		"ack":      {flags: []string{"json"}},
		"silence":  {flags: []string{"for=", "kind=", "reason=", "json"}},
		"silences": {flags: []string{"json"}},
	}},
	"batch": {subs: map[string]*completionNode{
		"list": {flags: []string{"tenant=", "json"}},
		"runs": {flags: []string{"tenant=", "kind=", "limit=", "json"}},
	}},
	"completion": {args: []string{"bash", "zsh", "fish"}},
	"config":     {},
	"demo":       {flags: []string{"check", "addr=", "app-addr=", "instance-server=", "database=", "exampleapp=", "load="}},
	"cost": {subs: map[string]*completionNode{
		"analyze": {flags: []string{"wait", "timeout="}},
		"report":  {flags: []string{"tenant=", "json"}},
		"apply":   {flags: []string{"wait"}},
		"dismiss": {},
	}},
	"health":    {flags: []string{"instance=", "tenant=", "drains=", "json"}},
	"help":      {},
	"instances": {subs: map[string]*completionNode{"list": {flags: []string{"json"}}}},
	"migrate": {subs: map[string]*completionNode{
		"up":     {flags: []string{"tenants=", "instance=", "concurrency=", "canary=", "idempotency-key=", "wait"}},
		"status": {flags: []string{"json"}},
		"retry":  {flags: []string{"wait"}},
	}},
	"probe":    {},
	"run":      {flags: []string{"roles="}},
	"schedule": {subs: map[string]*completionNode{"list": {flags: []string{"json"}}}},
	"tokens": {subs: map[string]*completionNode{
		"create": {flags: []string{"role=", "json"}},
		"list":   {flags: []string{"json"}},
		"revoke": {},
	}},
	"users": {subs: map[string]*completionNode{
		"add":     {flags: []string{"role=", "password-stdin", "json"}},
		"list":    {flags: []string{"json"}},
		"disable": {},
	}},
	"tenants": {subs: map[string]*completionNode{
		"list":          {flags: []string{"status=", "tier=", "instance=", "json"}},
		"show":          {flags: []string{"json"}},
		"onboard":       {flags: []string{"name=", "tier=", "isolation=", "restore", "wait"}},
		"set-isolation": {args: []string{"pooled", "strict"}},
		"retry":         {flags: []string{"wait"}},
		"offboard":      {flags: []string{"drop", "wait"}},
		"purge":         {flags: []string{"wait"}},
	}},
}

// flagValues are the values offered after a flag of that name.
var flagValues = map[string][]string{
	"tier":      {"shared", "dedicated"},
	"isolation": {"pooled", "strict"},
	"status":    {"pending", "provisioning", "active", "failed", "offboarding", "offboarded"},
	"roles":     {"api", "scheduler", "worker"},
	"role":      {"viewer", "operator"},
}

func runCompletion(_ context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: fleet completion bash|zsh|fish", errUsage)
	}
	script, ok := completionScripts[args[0]]
	if !ok {
		return fmt.Errorf("%w: fleet completion bash|zsh|fish (not %q)", errUsage, args[0])
	}
	_, err := io.WriteString(env.stdout, script)
	return err
}

// runComplete prints the candidates for the last of args (the word being
// typed, maybe empty), given the words before it.
func runComplete(_ context.Context, env *cliEnv, args []string) error {
	for _, c := range complete(args) {
		fmt.Fprintln(env.stdout, c)
	}
	return nil
}

// complete returns the candidates for the last word of words.
func complete(words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	var node *completionNode
	level := completionTree
	valueOf := ""
	for _, w := range before {
		switch {
		case valueOf != "":
			valueOf = ""
		case strings.HasPrefix(w, "-"):
			name := strings.TrimLeft(w, "-")
			if node != nil && !strings.Contains(name, "=") && slices.Contains(node.flags, name+"=") {
				valueOf = name
			}
		case level != nil && level[w] != nil:
			node, level = level[w], level[w].subs
		default:
			level = nil // a positional argument: no sub-commands after it
		}
	}
	var out []string
	switch {
	case valueOf != "":
		out = flagValues[valueOf]
	case strings.HasPrefix(cur, "-"):
		if node != nil {
			for _, f := range node.flags {
				out = append(out, "--"+strings.TrimSuffix(f, "="))
			}
		}
	case level != nil:
		for name := range level {
			out = append(out, name)
		}
		if node != nil {
			out = append(out, node.args...)
		}
	case node != nil:
		out = node.args
	}
	sort.Strings(out)
	return slices.DeleteFunc(out, func(c string) bool { return !strings.HasPrefix(c, cur) })
}

// completionScripts are the scripts `fleet completion SHELL` prints; each
// asks `fleet __complete` for the candidates, so it knows every command
// and flag of the binary that printed it.
var completionScripts = map[string]string{
	"bash": `# bash completion for fleet; load with: source <(fleet completion bash)
_fleet() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "$cur"))
}
complete -o default -F _fleet fleet
`,
	"zsh": `#compdef fleet
# zsh completion for fleet; load with: source <(fleet completion zsh)
# or save as _fleet in a directory of $fpath.
_fleet() {
    local -a candidates
    candidates=("${(@f)$("${words[1]}" ` + completeCommand + ` "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    compadd -a candidates
}
if [ "$funcstack[1]" = "_fleet" ]; then
    _fleet "$@"
else
    compdef _fleet fleet
fi
`,
	"fish": `# fish completion for fleet; load with: fleet completion fish | source
function __fleet_complete
    set -l tokens (commandline -opc)
    $tokens[1] ` + completeCommand + ` $tokens[2..-1] (commandline -ct) 2>/dev/null
end
complete -c fleet -f -a '(__fleet_complete)'
`,
}
