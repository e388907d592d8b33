package redistest

import "syscall"

// dieWithParent makes the kernel SIGKILL the child when the test binary
// dies, so a test that panics or times out leaves no server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
