package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "REDISTEST_CRASH_CHILD"

// TestServersDieWithACrashedTestBinary re-runs this test binary as a child
// that starts a server and exits without running its cleanups (as a
// panicking or timed-out test binary does), and checks the server is gone.
func TestServersDieWithACrashedTestBinary(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		s := Start(t, Options{})
		fmt.Printf("pid %d\n", s.cmd.Process.Pid)
		os.Exit(3) // no cleanups
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServersDieWithACrashedTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		if n, ok := strings.CutPrefix(scanner.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(n)
		}
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v, want exit status 3", err)
	}
	if pid == 0 {
		t.Fatal("the child printed no server pid")
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("redis-server %d outlived the crashed test binary by 10s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie, dead but not yet reaped by an
// init that may never reap, does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
