// Package redistest starts private redis-server processes for tests: plain,
// password-protected, TLS-only, replicas, and Sentinel groups, each on a
// free port with its data in a temporary directory. Every process is
// killed when the test ends (t.Cleanup) and, on Linux, when the test
// binary dies without cleaning up (a panic, a timeout, SIGKILL): the
// parent-death signal takes it down with the binary.
//
// The binaries are redis-server and, for sentinels, redis-sentinel
// (Debian: apt-get install redis-server redis-sentinel). A missing binary
// fails the test; it is not skipped.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configures a private redis-server.
type Options struct {
	// Password is the server's requirepass, and the masterauth a replica
	// uses. Default empty: no authentication.
	Password string
	// ReplicaOf makes the server a replica of another one started here.
	ReplicaOf *Server
	// TLS serves TLS only (the plain port is closed), with client
	// certificates required, replication over TLS, and the certificates of
	// Certs. Default nil: plain TCP.
	TLS *Certs
}

// Server is a running private redis-server or redis-sentinel process.
type Server struct {
	// Port is the port it listens on (TLS when Options.TLS is set).
	Port int
	dir  string
	log  string
	cmd  *exec.Cmd
	// exited is closed when the process has ended.
	exited   chan struct{}
	killOnce sync.Once
	// replicasWanted counts the replicas started of this server, which
	// StartSentinels waits to be known.
	replicasWanted int
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Start runs a redis-server configured by o and waits until it accepts
// connections.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	if o.ReplicaOf != nil {
		o.ReplicaOf.replicasWanted++
	}
	return startProcess(t, dir, "redis-server", "Ready to accept connections", func(port int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "bind 127.0.0.1 ::1\nsave \"\"\nappendonly no\ndir %s\nlogfile %s\n", dir, filepath.Join(dir, "redis.log"))
		if o.TLS != nil {
			fmt.Fprintf(&b, "port 0\ntls-port %d\n", port)
			writeTLS(&b, o.TLS)
		} else {
			fmt.Fprintf(&b, "port %d\n", port)
		}
		if o.Password != "" {
			fmt.Fprintf(&b, "requirepass %s\nmasterauth %s\n", quote(o.Password), quote(o.Password))
		}
		if o.ReplicaOf != nil {
			fmt.Fprintf(&b, "replicaof 127.0.0.1 %d\n", o.ReplicaOf.Port)
		}
		return b.String()
	})
}

// writeTLS writes the TLS directives shared by servers and sentinels.
func writeTLS(b *strings.Builder, c *Certs) {
	fmt.Fprintf(b, "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients yes\ntls-replication yes\n",
		c.ServerCertFile, c.ServerKeyFile, c.CAFile)
}

// quote makes a value safe in a redis.conf line.
func quote(s string) string { return strconv.Quote(s) }

// startProcess writes the configuration conf(port) for a free port, runs
// binary on it and waits for its log to say ready (a line containing
// readyMark; Redis listens before it logs it). A port taken in the meantime
// by someone else is retried with another one.
func startProcess(t testing.TB, dir, binary, readyMark string, conf func(port int) string) *Server {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("redistest: %s not found (Debian: apt-get install redis-server redis-sentinel): %v", binary, err)
	}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		confFile := filepath.Join(dir, "redis.conf")
		// A sentinel rewrites its configuration file, so it must be writable.
		if err := os.WriteFile(confFile, []byte(conf(port)), 0o600); err != nil {
			t.Fatalf("redistest: write config: %v", err)
		}
		logFile := filepath.Join(dir, "redis.log")
		_ = os.Remove(logFile)
		s := &Server{Port: port, dir: dir, log: logFile, exited: make(chan struct{})}
		// Ended by Kill (a cleanup) or the parent-death signal, not a context.
		s.cmd = exec.CommandContext(context.Background(), path, confFile) //nolint:gosec // redis-server or redis-sentinel from PATH, on a file written above
		s.cmd.Dir = dir
		if err := startCmd(s.cmd); err != nil {
			t.Fatalf("redistest: start %s: %v", binary, err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		t.Cleanup(s.Kill)
		err := s.waitReady(readyMark, 10*time.Second)
		if err == nil {
			return s
		}
		s.Kill()
		if errors.Is(err, errPortTaken) && attempt < 5 {
			continue
		}
		t.Fatalf("redistest: %s on port %d: %v\n%s", binary, port, err, s.logTail())
	}
}

var errPortTaken = errors.New("port already in use")

// waitReady waits until the log has a line containing mark.
func (s *Server) waitReady(mark string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		raw, _ := os.ReadFile(s.log)
		switch {
		case bytes.Contains(raw, []byte(mark)):
			return nil
		case bytes.Contains(raw, []byte("Address already in use")):
			return errPortTaken
		}
		select {
		case <-s.exited:
			return errors.New("the process exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", within)
		}
	}
}

// logTail is the end of the process's log, for failure messages.
func (s *Server) logTail() string {
	raw, _ := os.ReadFile(s.log)
	if len(raw) > 4000 {
		raw = raw[len(raw)-4000:]
	}
	return string(raw)
}

// Log returns the process's log so far.
func (s *Server) Log() string {
	raw, _ := os.ReadFile(s.log)
	return string(raw)
}

// Kill ends the process with SIGKILL (no shutdown, no save: a crash) and
// waits for it. It is idempotent and registered as a cleanup by Start.
func (s *Server) Kill() {
	s.killOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// freePort asks the kernel for a free TCP port on the loopback.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
