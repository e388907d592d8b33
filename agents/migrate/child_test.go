package migrate_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// The test binary re-executed with childEnv set runs a migration worker
// (tracedSteps) until it is killed or its stdin closes.
const (
	childEnv      = "MIGRATE_TEST_CHILD"
	childCPEnv    = "MIGRATE_TEST_CHILD_CP"
	childRedisEnv = "MIGRATE_TEST_CHILD_REDIS"
	childFleetEnv = "MIGRATE_TEST_CHILD_FLEET"
	childAdminEnv = "MIGRATE_TEST_CHILD_ADMIN"
)

func runChildWorker() int {
	if err := childWorker(); err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 1
	}
	return 0
}

func childWorker() error {
	ctx := context.Background()
	cp, err := pgxpool.New(ctx, os.Getenv(childCPEnv))
	if err != nil {
		return err
	}
	defer cp.Close()
	opts, err := redis.ParseURL(os.Getenv(childRedisEnv))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	m, err := migrations.New(migrations.Config{FS: tracedSteps})
	if err != nil {
		return err
	}
	conn, err := local.NewConnector(local.ConnectorConfig{AdminURL: os.Getenv(childAdminEnv)})
	if err != nil {
		return err
	}
	defer conn.Close()
	// Its own key: the child enables each tenant's login with it before
	// logging in, as a fleet whose key changed would.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sess, err := sessions.New(sessions.Config{Connector: conn, Key: key})
	if err != nil {
		return err
	}
	r, err := migrate.New(migrate.Config{DB: cp, Redis: rdb, Queue: queue.NewClient(rdb), Fleet: os.Getenv(childFleetEnv),
		Migrator: m, Sessions: sess, LeaseTTL: time.Second, Logger: cptest.DiscardLogger()})
	if err != nil {
		return err
	}
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: rdb, Concurrency: 6, TaskCheckInterval: 20 * time.Millisecond,
		Queues: map[string]int{queue.QueueMaintenance: 1}, Logger: cptest.DiscardLogger()})
	if err != nil {
		return err
	}
	r.Register(w)
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer w.Stop()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent goes away
	return nil
}

// startChild starts a worker process for e and waits until it runs.
func (e *env) startChild(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childCPEnv+"="+e.cpURL, childRedisEnv+"="+e.redisURL,
		childFleetEnv+"="+e.fleet, childAdminEnv+"="+e.adminURL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child worker: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child worker: got %q, %v, want ready", line, err)
	}
	return cmd
}

// TestKilledWorkerRunCompletes kills the only worker (a child process) with
// SIGKILL mid-run; a new worker and Resume finish the run, every tenant at
// the target version and every migration applied exactly once.
func TestKilledWorkerRunCompletes(t *testing.T) {
	t.Parallel()
	e := setup(t, options{fsys: tracedSteps})
	a := e.addInstance(t, "ia", 30, "", "", 0)
	e.createTrace(t, a)
	child := e.startChild(t)
	ctx := testContext(t)

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 3})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var st migrate.RunStatus
	eventually.True(t, time.Minute, "a few tenants migrated by the child", func() bool {
		st, err = e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Succeeded >= 6
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = child.Wait()
	st, _ = e.runner.Progress(ctx, id)
	t.Logf("killed the worker at %+v", st.Counts)
	if st.Counts.Finished() == st.Counts.Total {
		t.Fatalf("the run finished before the kill: %+v", st.Counts)
	}

	e.startWorker(t, e.runner, 6)
	if _, err := e.runner.ResumeRunning(ctx); err != nil {
		t.Fatalf("ResumeRunning: %v", err)
	}
	st = e.wait(t, id)
	if st.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", st.Status, st.Failed())
	}
	for _, tid := range a.tenants {
		if got := e.version(t, a, tid); got != 3 {
			t.Errorf("tenant %s: version %d, want 3", tid, got)
		}
	}
	applied := map[[2]any]int{}
	for _, s := range e.trace(t, a) {
		applied[[2]any{s.Schema, s.Version}]++
	}
	if got, want := len(applied), 3*len(a.tenants); got != want {
		t.Errorf("migrations applied: got %d, want %d", got, want)
	}
	for k, n := range applied {
		if n != 1 {
			t.Errorf("schema %s version %d applied %d times, want once", k[0], k[1], n)
		}
	}
}
