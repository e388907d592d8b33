//go:build !linux

package redistest

import "os/exec"

// startCmd starts cmd. Outside Linux there is no parent-death signal: the
// processes are ended by the tests' cleanups only.
func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
