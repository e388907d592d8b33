package migrate_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
)

// redisOutage is how long TestRedisOutageMidRun keeps Redis down: past
// Asynq's 30 s task lease, so the leases of the tasks in flight expire.
const redisOutage = time.Minute

// privateRedis is a Redis server of the test's own, with an append-only
// file, so the test may stop it and start it again with its data.
type privateRedis struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &privateRedis{t: t, dir: t.TempDir(), port: ln.Addr().(*net.TCPAddr).Port}
	_ = ln.Close()
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs the server and waits until it answers.
func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = nil, os.Stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	eventually.True(r.t, time.Minute, "the private Redis to answer", func() bool { return c.Ping(context.Background()).Err() == nil })
}

// stop shuts the server down (SIGTERM: it syncs its append-only file).
func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// TestRedisOutageMidRun stops Redis for a minute while tenants migrate and
// starts it again with its data: the migrations in flight finish and are
// recorded in Postgres while Redis is down, and once it is back the run
// completes by itself (Asynq recovers the tasks whose lease expired),
// every tenant migrated in one attempt and every migration applied once.
func TestRedisOutageMidRun(t *testing.T) {
	t.Parallel()
	rs := startPrivateRedis(t)
	slow := fstest.MapFS{}
	for name, f := range tracedSteps {
		slow[name] = f
	}
	slow["00001_widgets.sql"] = &fstest.MapFile{Data: bytes.Replace(tracedSteps["00001_widgets.sql"].Data,
		[]byte("pg_sleep(0.02)"), []byte("pg_sleep(2)"), 1)}
	e := setup(t, options{fsys: slow, redisURL: rs.url()})
	a := e.addInstance(t, "ia", 6, "", "", 0)
	e.createTrace(t, a)
	e.startWorker(t, e.runner, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	id, err := e.runner.Start(ctx, migrate.Spec{Concurrency: 2})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually.True(t, time.Minute, "tenants migrating", func() bool {
		st, err := e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Running > 0
	})
	rs.stop()
	down := time.Now()
	st, _ := e.runner.Progress(ctx, id)
	t.Logf("Redis stopped at %+v", st.Counts)
	eventually.True(t, time.Minute, "the migrations in flight recorded while Redis is down", func() bool {
		st, err = e.runner.Progress(ctx, id)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		return st.Counts.Running == 0
	})
	if st.Counts.Succeeded == 0 || st.Counts.Finished() == st.Counts.Total {
		t.Fatalf("while Redis is down: %+v, want some tenants succeeded and some left", st.Counts)
	}
	// The fault lasts a minute, whatever the fleet does meanwhile.
	time.Sleep(time.Until(down.Add(redisOutage)))
	rs.start()

	final, err := e.runner.Wait(ctx, id, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if final.Status != migrate.RunSucceeded {
		t.Fatalf("run: got %s, want succeeded (%+v)", final.Status, final.Failed())
	}
	for _, tr := range final.Tenants {
		if tr.Attempts != 1 {
			t.Errorf("tenant %s: %d attempts, want 1", tr.TenantID, tr.Attempts)
		}
	}
	e.assertAppliedOnce(t, a)
}
