package main

import (
	"bytes"
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

// isReady reports whether the process logged readyLine.
func (p *fleetProc) isReady() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// lastLine returns the last line of the process's log (at most 300
// bytes of it): why a process that died on its own died.
func (p *fleetProc) lastLine() string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
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
