package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flagLine is a flag in the defaults a flag set prints for -h: its name,
// then its value's type unless it is a boolean.
var flagLine = regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)( \S+)?$`)

// TestCompletionTreeMatchesCommands: the completion tree names every
// command, every sub-command of each group's usage and exactly the flags
// each command's own flag set defines.
func TestCompletionTreeMatchesCommands(t *testing.T) {
	ctx := context.Background()
	none := func(string) string { return "" }
	for name, c := range commands {
		if _, ok := completionTree[name]; !ok && !c.hidden {
			t.Errorf("command %q is not in the completion tree", name)
		}
	}
	for name, node := range completionTree {
		if _, ok := commands[name]; !ok && name != "help" {
			t.Errorf("completion tree names %q, which is no command", name)
		}
		if len(node.subs) > 0 {
			var usage bytes.Buffer
			if err := run(ctx, []string{name, "help"}, none, &usage, &usage); err != nil {
				t.Errorf("fleet %s help: %v", name, err)
			}
			var listed []string
			for _, m := range regexp.MustCompile(`fleet `+name+` ([a-z][a-z-]*)`).FindAllStringSubmatch(usage.String(), -1) {
				if !slices.Contains(listed, m[1]) {
					listed = append(listed, m[1])
				}
			}
			var subs []string
			for sub := range node.subs {
				subs = append(subs, sub)
			}
			slices.Sort(listed)
			slices.Sort(subs)
			if !slices.Equal(listed, subs) {
				t.Errorf("fleet %s: usage lists %v, completion tree %v", name, listed, subs)
			}
		}
	}
	for _, leaf := range completionLeaves() {
		if leaf == "help" || leaf == "probe" || leaf == "completion" {
			continue
		}
		var stderr bytes.Buffer
		_ = run(ctx, append(strings.Fields(leaf), "-h"), none, &bytes.Buffer{}, &stderr)
		if strings.Contains(stderr.String(), "unknown") {
			t.Errorf("fleet %s: %s", leaf, stderr.String())
		}
		var got []string
		for _, m := range flagLine.FindAllStringSubmatch(stderr.String(), -1) {
			f := m[1]
			if m[2] != "" {
				f += "="
			}
			got = append(got, f)
		}
		node := completionTree[strings.Fields(leaf)[0]]
		if f := strings.Fields(leaf); len(f) == 2 {
			node = node.subs[f[1]]
		}
		want := slices.Clone(node.flags)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("fleet %s: flags %v, completion tree %v", leaf, got, want)
		}
	}
}

func TestCompleteCandidates(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{""}, nil},
		{[]string{"ten"}, []string{"tenants"}},
		{[]string{"tenants", "o"}, []string{"offboard", "onboard"}},
		{[]string{"tenants", "onboard", "acme", "--"}, []string{"--isolation", "--name", "--restore", "--tier", "--wait"}},
		{[]string{"tenants", "onboard", "acme", "--tier", ""}, []string{"dedicated", "shared"}},
		{[]string{"tenants", "onboard", "--name", "list", ""}, nil},
		{[]string{"tenants", "set-isolation", "acme", "s"}, []string{"strict"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"migrate", "up", "--w"}, []string{"--wait"}},
		{[]string{"health", "--js"}, []string{"--json"}},
	} {
		got := complete(tc.words)
		if tc.want == nil && tc.words[0] == "" {
			if len(got) != len(completionTree) {
				t.Errorf("complete(%q) = %v, want every command", tc.words, got)
			}
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("complete(%q) = %v, want %v", tc.words, got, tc.want)
		}
	}
}

// TestBashCompletionScript loads `fleet completion bash` into bash and
// completes nested commands and flags through the real binary.
func TestBashCompletionScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to test the bash completion script")
	}
	dir := fleetOnPath(t)
	var script bytes.Buffer
	if err := run(context.Background(), []string{"completion", "bash"}, func(string) string { return "" }, &script, &script); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fleet.bash"), script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) string {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `
set -e
source "$1"
complete -p fleet
read -r -a COMP_WORDS <<< "$2"
[[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_fleet
printf '%s\n' "${COMPREPLY[@]}"`, "bash", filepath.Join(dir, "fleet.bash"), line)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash completion of %q: %v\n%s", line, err, out)
		}
		return string(out)
	}
	out := complete("fleet ten")
	if !strings.Contains(out, "complete -o default -F _fleet fleet") || !strings.Contains(out, "\ntenants\n") {
		t.Errorf("completion of 'fleet ten':\n%s", out)
	}
	if out := complete("fleet tenants onboard acme --"); !strings.Contains(out, "--isolation\n--name\n--restore\n--tier\n--wait\n") {
		t.Errorf("completion of onboard flags:\n%s", out)
	}
	if out := complete("fleet migrate "); !strings.Contains(out, "retry\nstatus\nup\n") {
		t.Errorf("completion of migrate sub-commands:\n%s", out)
	}
	if out := complete("fleet tenants list --tier "); !strings.Contains(out, "dedicated\nshared\n") {
		t.Errorf("completion of --tier values:\n%s", out)
	}
}

// TestFishCompletionScript loads `fleet completion fish` into fish and
// asks it to complete (complete -C) through the real binary.
func TestFishCompletionScript(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Log("fish is not installed: its script is syntax-checked only where it is (TestCompletionScripts)")
		return
	}
	dir := fleetOnPath(t)
	var script bytes.Buffer
	if err := run(context.Background(), []string{"completion", "fish"}, func(string) string { return "" }, &script, &script); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"fleet ten":                     "tenants\n",
		"fleet tenants onboard acme --": "--isolation\n--name\n--restore\n--tier\n--wait\n",
		"fleet migrate ":                "retry\nstatus\nup\n",
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source; complete -C '"+line+"'")
		cmd.Stdin = bytes.NewReader(script.Bytes())
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("fish completion of %q: %v\n%s", line, err, out)
		}
	}
}

// TestZshCompletionScript sources `fleet completion zsh` in zsh, with
// compdef and compadd (the completion system's) replaced by functions
// that record what the script registers and offers, and runs its _fleet
// on typed words.
func TestZshCompletionScript(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Log("zsh is not installed: its script is not tested")
		return
	}
	dir := fleetOnPath(t)
	var script bytes.Buffer
	if err := run(context.Background(), []string{"completion", "zsh"}, func(string) string { return "" }, &script, &script); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_fleet"), script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for typed, want := range map[string]string{
		"fleet ten":                     "tenants\n",
		"fleet tenants onboard acme --": "--isolation\n--name\n--restore\n--tier\n--wait\n",
		"fleet tenants list --status ":  "active\nfailed\noffboarded\noffboarding\npending\nprovisioning\n",
	} {
		cmd := exec.Command(zsh, "-f", "-c", `
compdef() { print "compdef $*" }
compadd() { [[ $1 == -a ]] && print -l -- "${(@P)2}" }
source "$1"
words=(${(z)2})
[[ "$2" == *" " ]] && words+=("")
CURRENT=${#words}
_fleet`, "zsh", filepath.Join(dir, "_fleet"), typed)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "compdef _fleet fleet\n") || !strings.Contains(string(out), want) {
			t.Errorf("zsh completion of %q: %v\n%s", typed, err, out)
		}
	}
}

// fleetOnPath returns a directory holding a "fleet" that is this test
// binary acting as the CLI.
func fleetOnPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nFLEET_TEST_BE_MAIN=1 exec " + os.Args[0] + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "fleet"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCompletionScripts: every shell has a script that calls the hidden
// helper; zsh and fish parse it when they are installed (else the test
// says so).
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"completion", shell}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("fleet completion %s: %v", shell, err)
		}
		if !strings.Contains(out.String(), completeCommand) {
			t.Errorf("%s script does not call %s", shell, completeCommand)
		}
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s is not installed: its script is not syntax-checked", shell)
			continue
		}
		check := map[string][]string{"bash": {"-n"}, "zsh": {"-n"}, "fish": {"--no-execute"}}[shell]
		cmd := exec.Command(path, check...)
		cmd.Stdin = &out
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s refuses its script: %v\n%s", shell, err, msg)
		}
	}
	if err := run(context.Background(), []string{"completion", "powershell"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}); exitOf(err) != 2 {
		t.Errorf("fleet completion powershell: %v, want a usage error", err)
	}
	var help bytes.Buffer
	_ = run(context.Background(), []string{"help"}, func(string) string { return "" }, &help, &help)
	if strings.Contains(help.String(), completeCommand) || !strings.Contains(help.String(), "completion") {
		t.Errorf("fleet help shows the hidden helper or lacks completion:\n%s", help.String())
	}
}
