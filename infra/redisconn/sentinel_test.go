package redisconn_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/eventually"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/redisconn"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/redistest"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestSentinelURLReachesTheMaster checks the URL's credentials and
// database reach the master the sentinels name, and that a wrong sentinel
// password is refused.
func TestSentinelURLReachesTheMaster(t *testing.T) {
	t.Parallel()
	g := redistest.StartGroup(t)
	target, client := open(t, redisconn.Config{URL: strings.Replace(g.URL, "/0?", "/6?", 1)})
	ctx := context.Background()
	if err := client.Set(ctx, "via-sentinel", "yes", 0).Err(); err != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	info, err := client.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil || !strings.Contains(info, " db=6 ") || !strings.Contains(info, fmt.Sprintf("laddr=%s ", g.Master.Addr())) {
		t.Errorf("CLIENT INFO through Sentinel = %q, %v; want the master %s, db=6", info, err, g.Master.Addr())
	}
	if !target.Sentinel() {
		t.Error("Sentinel() = false for a redis-sentinel:// URL")
	}
	err = pingErr(t, redisconn.Config{URL: strings.Replace(g.URL, redistest.GroupSentinelPassword, "wrong-sentinel-5", 1)})
	if err == nil || strings.Contains(err.Error(), "wrong-sentinel-5") {
		t.Errorf("wrong sentinel password: %v, want a refusal that does not echo it", err)
	}
}

// TestRedissSentinel reaches a TLS-only master through a TLS-only
// sentinel, both verified against the private CA, and is refused without
// the CA.
func TestRedissSentinel(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	master := redistest.Start(t, redistest.Options{TLS: &certs})
	opts := redistest.SentinelOptions{Master: master, Count: 1, TLS: &certs}
	sentinel := redistest.StartSentinels(t, &opts)[0]
	cfg := redisconn.Config{URL: fmt.Sprintf("rediss-sentinel://%s/2?master=mymaster", sentinel.Addr()),
		CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}
	_, client := open(t, cfg)
	ctx := context.Background()
	if err := client.Set(ctx, "k", "tls-sentinel", 0).Err(); err != nil {
		t.Fatalf("SET through rediss-sentinel://: %v", err)
	}
	info, err := client.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil || !strings.Contains(info, fmt.Sprintf("laddr=%s ", master.Addr())) {
		t.Errorf("CLIENT INFO = %q, %v; want a connection to the master %s", info, err, master.Addr())
	}
	noCA := cfg
	noCA.CAFile = ""
	if err := pingErr(t, noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("rediss-sentinel:// without the CA: %v, want a certificate error", err)
	}
}

// failoverFigures are what the failover test measured, logged for
// docs/redis.md.
type failoverFigures struct {
	promoted             time.Duration // kill to a sentinel naming the replica
	longestEnqueue       time.Duration // longest Enqueue call, retries included
	enqueueRetries       int64         // failed Enqueue calls retried
	processingGap        time.Duration // longest pause between two processed tasks
	publishRetries       int64         // failed Router.Publish calls retried
	duplicates, reQueued int
}

// TestSentinelFailoverKeepsWorkFlowing kills the master with SIGKILL while
// tasks flow through the fleet's queue.Client and queue.Worker and routes
// are published and resolved through tenants.Router, all on a
// redis-sentinel:// URL. After the sentinels promote the replica the same
// clients carry on: every task enqueued (acknowledged) is processed at
// least once (the handler is idempotent: a task id counts once), Resolve
// never fails (it reads Postgres while Redis is down), route changes
// published after the failover reach another process's Router, and pool
// statistics are published to the new master.
func TestSentinelFailoverKeepsWorkFlowing(t *testing.T) {
	t.Parallel()
	g := redistest.StartGroup(t)
	target, err := redisconn.New(redisconn.Config{URL: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	newClient := func() *redis.Client {
		c := target.NewClient()
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	// The worker: an idempotent handler recording each task id.
	var (
		mu          sync.Mutex
		runs        = map[int]int{}
		processedAt []time.Time
	)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: newClient(), Concurrency: 4, ShutdownTimeout: 5 * time.Second,
		Queues: map[string]int{queue.QueueDefault: 1}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	w.HandleFunc("failover:task", func(_ context.Context, task *asynq.Task) error {
		n, err := strconv.Atoi(string(task.Payload()))
		if err != nil {
			return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
		}
		mu.Lock()
		runs[n]++
		processedAt = append(processedAt, time.Now())
		mu.Unlock()
		return nil
	})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	processed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(runs)
	}

	// Routes: a catalog in a scratch control plane, a Router publishing
	// changes and another (another process's, on its own client) reading.
	_, cp := cptest.Database(t)
	fleet := cptest.UniqueName("ha")
	cat := controlplane.NewStore(cp)
	tenantIDs := createActiveTenants(t, cat, 4)
	publisher, err := tenants.NewRouter(tenants.RouterConfig{Source: cat, Redis: newClient(), Fleet: fleet, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := tenants.NewRouter(tenants.RouterConfig{Source: cat, Redis: newClient(), Fleet: fleet, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*tenants.Router{publisher, reader} {
		if err := r.Start(ctx); err != nil {
			t.Fatalf("router start through Sentinel: %v", err)
		}
		t.Cleanup(r.Stop)
	}

	var figures failoverFigures
	qc := queue.NewClient(newClient())
	t.Cleanup(func() { _ = qc.Close() })
	enqueue := func(n int) (queue.Enqueued, error) {
		return qc.Enqueue(ctx, asynq.NewTask("failover:task", []byte(strconv.Itoa(n))),
			asynq.TaskID("failover-"+strconv.Itoa(n)), asynq.Queue(queue.QueueDefault),
			asynq.Retention(time.Hour), asynq.MaxRetry(5))
	}

	// The producer enqueues task after task, retrying a failed enqueue
	// (the deterministic task id makes a retry of an enqueue that did land
	// a duplicate, not a second task) until stop is closed.
	stop := make(chan struct{})
	var (
		enqueued    atomic.Int64
		producerErr error
		wg          sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			began := time.Now()
			for {
				_, err := enqueue(n)
				if err == nil {
					break
				}
				atomic.AddInt64(&figures.enqueueRetries, 1)
				if time.Since(began) > 60*time.Second {
					producerErr = fmt.Errorf("enqueue %d kept failing for 60s: %w", n, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			if d := time.Since(began); d > figures.longestEnqueue {
				figures.longestEnqueue = d
			}
			enqueued.Store(int64(n + 1))
		}
	}()

	// The route traffic: change a tenant in the catalog, publish it
	// (retried while Redis fails), resolve it in the other Router.
	var resolveErrs []error
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			id := tenantIDs[i%len(tenantIDs)]
			if _, err := cat.SetTenantStatus(ctx, id, tenants.TenantActive, ""); err != nil {
				resolveErrs = append(resolveErrs, err)
				return
			}
			for publisher.Publish(ctx, id) != nil {
				atomic.AddInt64(&figures.publishRetries, 1)
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			if _, err := reader.Resolve(ctx, id); err != nil {
				resolveErrs = append(resolveErrs, fmt.Errorf("resolve %s: %w", id, err))
			}
		}
	}()
	stopped := false
	stopTraffic := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopTraffic)

	eventually.True(t, 30*time.Second, "100 tasks processed before the failover", func() bool { return processed() >= 100 })
	killedAt := time.Now()
	g.Master.Kill()
	g.WaitPromoted(t)
	figures.promoted = time.Since(killedAt)
	atFailover := enqueued.Load()
	eventually.True(t, 60*time.Second, "100 more tasks enqueued after the promotion", func() bool { return enqueued.Load() >= atFailover+100 })
	stopTraffic()
	if producerErr != nil {
		t.Fatal(producerErr)
	}
	for _, err := range resolveErrs {
		t.Errorf("route traffic: %v", err)
	}
	total := int(enqueued.Load())

	// Every acknowledged task runs. Redis replicates asynchronously, so a
	// write the old master acknowledged just before it died may be
	// missing on the new one: the fleet re-enqueues from Postgres (the
	// intake outbox, migration results); here the producer does the same
	// for what has not run, and the test counts what it had to restore.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var missing []int
		mu.Lock()
		for n := range total {
			if runs[n] == 0 {
				missing = append(missing, n)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged tasks never ran within 2m of the failover: %v", len(missing), total, missing[:min(len(missing), 20)])
		}
		for _, n := range missing {
			if e, err := enqueue(n); err == nil && !e.Duplicate {
				figures.reQueued++
			}
		}
		time.Sleep(time.Second)
	}
	mu.Lock()
	for _, c := range runs {
		figures.duplicates += c - 1
	}
	times := slices.Clone(processedAt)
	mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if times[i].After(killedAt) && times[i-1].After(killedAt.Add(-time.Second)) {
			figures.processingGap = max(figures.processingGap, times[i].Sub(times[i-1]))
		}
	}

	// Route changes made now reach the reader through pub/sub on the new
	// master: twice, so the second cannot be explained by the reader's
	// resubscription dropping its whole cache.
	id := tenantIDs[0]
	for round := range 2 {
		before, err := reader.Resolve(ctx, id)
		if err != nil {
			t.Fatalf("resolve after the failover: %v", err)
		}
		version, err := cat.SetTenantStatus(ctx, id, tenants.TenantActive, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := publisher.Publish(ctx, id); err != nil {
			t.Fatalf("publish after the failover: %v", err)
		}
		eventually.True(t, 10*time.Second, fmt.Sprintf("round %d: the reader sees version %d (had %d)", round, version, before.Version), func() bool {
			r, err := reader.Resolve(ctx, id)
			return err == nil && r.Version == version
		})
	}

	// Pool statistics publish to the new master.
	statsClient := newClient()
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: reader, Fleet: fleet, Redis: statsClient, ProcessID: "ha-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pools.PublishStats(ctx); err != nil {
		t.Fatalf("publish pool statistics after the failover: %v", err)
	}
	if n, err := statsClient.Exists(ctx, tenants.StatsKey(fleet, "ha-test")).Result(); err != nil || n != 1 {
		t.Errorf("pool statistics key on the new master: exists %d, %v", n, err)
	}
	if info, err := statsClient.Do(ctx, "CLIENT", "INFO").Text(); err != nil || !strings.Contains(info, "laddr="+g.Replica.Addr()+" ") {
		t.Errorf("the client is not on the promoted replica %s: %q, %v", g.Replica.Addr(), info, err)
	}

	t.Logf("failover figures: %d tasks; promoted %s after the kill; longest enqueue %s (%d failed calls retried); "+
		"longest pause between processed tasks %s; %d duplicate runs; %d acknowledged tasks lost and re-enqueued; "+
		"%d route publishes retried",
		total, figures.promoted.Round(time.Millisecond), figures.longestEnqueue.Round(time.Millisecond), figures.enqueueRetries,
		figures.processingGap.Round(time.Millisecond), figures.duplicates, figures.reQueued, figures.publishRetries)
	if figures.enqueueRetries == 0 && figures.publishRetries == 0 {
		t.Error("no enqueue or publish failed while the master was down: the kill did not land while work flowed")
	}
}

// createActiveTenants adds an instance and n active shared tenants to the
// catalog (rows only: routes need no schema).
func createActiveTenants(t *testing.T, cat *controlplane.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	inst, err := cat.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "ha-shared", Status: provider.StatusReady, Host: "127.0.0.1", Port: 5432, Database: "ha_data"}, Provider: "local", Tier: tenants.Shared})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ha-tenant-%d", i)
		if _, err := cat.CreateTenant(ctx, controlplane.Tenant{ID: ids[i], Name: ids[i], Tier: tenants.Shared}); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.SetTenantPlacement(ctx, ids[i], controlplane.Placement{InstanceID: inst.ID, Database: inst.Database,
			Schema: "t_" + strconv.Itoa(i), Role: "r_" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.SetTenantStatus(ctx, ids[i], tenants.TenantActive, ""); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}
