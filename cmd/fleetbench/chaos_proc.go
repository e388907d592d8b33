package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fleetProc is one `fleet` child process of the chaos scenario. Its
// output goes to a log file; ready closes when it logs that it runs.
type fleetProc struct {
	name     string
	cmd      *exec.Cmd
	log      *os.File
	ready    chan struct{}
	exited   chan struct{}
	err      error       // Wait's error, set before exited closes
	intended atomic.Bool // we stopped it on purpose
}

// readyLine is what `fleet run` logs once its roles are started.
var readyLine = []byte(`"msg":"fleet running"`)

// startProc starts bin with args and env, its output appended to logPath.
// The child gets its own process group, so a Ctrl-C at the terminal
// reaches only fleetbench, which then stops the children itself; and it
// is killed by the kernel if fleetbench dies first.
func startProc(name, bin, logPath string, env []string, args ...string) (*fleetProc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p := &fleetProc{name: name, log: f, ready: make(chan struct{}), exited: make(chan struct{})}
	// Stopped explicitly (kill, stop, chaosFleet.close), never by a context.
	p.cmd = exec.Command(bin, args...) //nolint:gosec,noctx // G204: the fleet binary this scenario built, with its own arguments
	p.cmd.Env = env
	w := &readyWriter{w: f, ready: p.ready}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = f.Close()
		close(p.exited)
	}()
	return p, nil
}

// kill sends SIGKILL and waits (up to 10 s) for the process to be gone.
func (p *fleetProc) kill() error {
	p.intended.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// stop sends SIGTERM, waits up to grace for a graceful exit, then kills.
func (p *fleetProc) stop(grace time.Duration) error {
	p.intended.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		return errors.Join(fmt.Errorf("%s did not stop within %s of SIGTERM", p.name, grace), p.kill())
	}
}

// waitReady waits until the process logged readyLine, exited, or ctx or
// timeout ended.
func (p *fleetProc) waitReady(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("%s exited before it was ready: %w (log %s)", p.name, p.err, p.log.Name())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%s not ready within %s (log %s)", p.name, timeout, p.log.Name())
	}
}

// readyWriter copies a child's output and closes ready at the first line
// holding readyLine.
type readyWriter struct {
	w     io.Writer
	ready chan struct{}
	mu    sync.Mutex
	line  []byte // the current unfinished line, while not yet ready
	seen  bool
}

func (r *readyWriter) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.seen {
		r.line = append(r.line, b...)
		if bytes.Contains(r.line, readyLine) {
			r.seen = true
			r.line = nil
			close(r.ready)
		} else if i := bytes.LastIndexByte(r.line, '\n'); i >= 0 {
			r.line = append(r.line[:0], r.line[i+1:]...)
		}
	}
	return r.w.Write(b)
}
