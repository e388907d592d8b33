//go:build !linux

package redistest

import "syscall"

// dieWithParent has no portable equivalent outside Linux: there the
// processes are ended by the tests' cleanups only.
func dieWithParent() *syscall.SysProcAttr { return nil }
