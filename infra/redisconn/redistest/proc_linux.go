package redistest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// startCmd starts cmd so that the kernel SIGKILLs it when the test binary
// dies (a panic, a timeout, SIGKILL), leaving no server behind.
//
// The parent-death signal fires when the thread that forked the child
// exits, not the process, and the Go runtime does end threads (a goroutine
// that exits while locked to one takes its thread along). So every child
// is forked from one goroutine locked to its thread for the life of the
// process.
func startCmd(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	spawnerOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnRequests <- req
	return <-req.done
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnerOnce   sync.Once
	spawnRequests = make(chan spawnRequest)
)

// spawner forks the requested children from its own, never-released
// thread.
func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for req := range spawnRequests {
		req.done <- req.cmd.Start()
	}
}
