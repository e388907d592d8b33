package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/redisconn/dblease"
)

// markerMigration is the tenant migration the chaos scenario's second
// release adds and its fleet migration run rolls out: it inserts one row
// per application, so a migration applied twice shows as two rows. The
// table is created only if missing, so a second application does not fail
// and hide itself.
const (
	markerMigrationFile = "99999_fleetbench_chaos_marker.sql"
	markerTable         = "chaos_marker"
	markerMigration     = `-- Added by fleetbench chaos to its second build of fleet: one row per application.
-- +goose Up
CREATE TABLE IF NOT EXISTS chaos_marker (applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO chaos_marker DEFAULT VALUES;

-- +goose Down
DROP TABLE chaos_marker;
`
)

// chaosFleetConfig sizes the fleet of the chaos scenario.
type chaosFleetConfig struct {
	workers     int
	concurrency int // FLEET_WORKER_CONCURRENCY of each worker
	maxTenants  int // FLEET_MAX_TENANTS_PER_INSTANCE
	shutdown    time.Duration
	marker      bool   // build the second release, with markerMigration
	logDir      string // keep the children's logs here; empty: a temp dir, removed
}

// chaosFleet is a real fleet of `fleet` processes: one `fleet run --roles
// api,scheduler` and K `fleet run --roles worker`, on a scratch control
// plane, a leased Redis database and a fleet name of their own. Workers can
// be killed, restarted, and redeployed with the second release.
type chaosFleet struct {
	cfg      chaosFleetConfig
	dir      string // temp dir: binaries (and logs unless cfg.logDir)
	logDir   string
	baseBin  string // fleet built from the source tree
	nextBin  string // the same plus markerMigration ("" without cfg.marker)
	fleet    string
	cpDB     string
	adminURL string
	cp       *pgxpool.Pool // fleetbench's own small pool on the control plane
	lease    *dblease.Lease
	env      []string
	base     string // http://addr of the api process
	token    string
	tickets  ticketSender
	stderr   io.Writer
	log      *slog.Logger

	mu        sync.Mutex
	workerBin string
	workers   []*fleetProc
	api       *fleetProc
	gen       int
	kills     int
	crashes   int
	stopping  bool
}

// maxCrashes bounds how often the scenario restarts a process that died
// on its own before it gives up on the fleet.
const maxCrashes = 20

// startChaosFleet builds the binaries, creates the scratch control plane,
// leases a Redis database and starts the processes, waiting until each
// runs. On error everything started so far is removed.
func startChaosFleet(ctx context.Context, cfg config.Config, fc chaosFleetConfig, stderr io.Writer) (_ *chaosFleet, err error) {
	suffix := randomHex()
	f := &chaosFleet{cfg: fc, fleet: "fc" + suffix, cpDB: "fleetbench_cp_" + suffix, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.dir, err = os.MkdirTemp("", "fleetbench-chaos-"); err != nil {
		return nil, err
	}
	f.logDir = cmp.Or(fc.logDir, f.dir)
	if err := os.MkdirAll(f.logDir, 0o700); err != nil {
		return nil, err
	}
	if err := f.build(ctx); err != nil {
		return nil, err
	}
	f.adminURL = cmp.Or(cfg.LocalAdminURL, config.WithDatabase(cfg.DatabaseURL, "postgres"))
	cpURL := config.WithDatabase(cfg.DatabaseURL, f.cpDB)
	// Created and migrated here, so the audit can read it whatever the
	// processes do; they find it migrated.
	if f.cp, err = controlplane.Open(ctx, cpURL, f.log); err != nil {
		return nil, err
	}
	if f.lease, err = dblease.Acquire(ctx, cfg.Redis(), "fleetbench_"+f.fleet, redisLeaseTTL); err != nil {
		return nil, err
	}
	addr, err := freeLocalAddr(ctx)
	if err != nil {
		return nil, err
	}
	f.base = "http://" + addr
	f.token = "fleetbench-" + randomHex() + randomHex() + randomHex()
	secret := make([]byte, 24)
	key := make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(key)
	f.tickets = ticketSender{base: f.base, secret: secret, http: &http.Client{Timeout: 30 * time.Second}}
	f.env = append(environWithoutFleet(),
		"FLEET_DATABASE_URL="+cpURL,
		"FLEET_REDIS_URL="+f.lease.URL,
		"FLEET_HTTP_ADDR="+addr,
		"FLEET_METRICS_ADDR=",
		"FLEET_API_TOKEN="+f.token,
		"FLEET_NAME="+f.fleet,
		"FLEET_SECRET_KEY="+hex.EncodeToString(key),
		"FLEET_PROVIDER=local",
		"FLEET_LOCAL_ADMIN_URL="+f.adminURL,
		"FLEET_LOG_FORMAT=json",
		"FLEET_LOG_LEVEL=info",
		"FLEET_WORKER_CONCURRENCY="+strconv.Itoa(fc.concurrency),
		"FLEET_TASK_CHECK_INTERVAL="+cfg.TaskCheckInterval.String(),
		"FLEET_SHUTDOWN_TIMEOUT="+fc.shutdown.String(),
		"FLEET_MAX_TENANTS_PER_INSTANCE="+strconv.Itoa(fc.maxTenants),
	)
	secretVar, err := ticketSecretVariable(ctx, f.baseBin, f.env)
	if err != nil {
		return nil, err
	}
	f.env = append(f.env, secretVar+"=whsec_"+base64.StdEncoding.EncodeToString(secret))
	// The api process runs the release the migration run needs from the
	// start: it only starts runs (and the scheduler only enqueues); the
	// workers, which do the work, get it in the deploy.
	apiBin := cmp.Or(f.nextBin, f.baseBin)
	f.workerBin = f.baseBin
	f.mu.Lock()
	f.api, err = f.startProc("api", apiBin, "--roles", "api,scheduler")
	for i := 0; err == nil && i < fc.workers; i++ {
		var p *fleetProc
		if p, err = f.startWorker(i); err == nil {
			f.workers = append(f.workers, p)
		}
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := f.waitReady(ctx, 60*time.Second, 0); err != nil {
		return nil, err
	}
	return f, nil
}

// build compiles fleet from the module in the working directory, and
// with cfg.marker a second release that adds markerMigration to the
// embedded tenant migrations (go build -overlay: the source tree is not
// touched).
func (f *chaosFleet) build(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("chaos builds fleet from source: run it inside the tenantfleet module (go list -m: %w)", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != "github.com/tenantfleet/tenantfleet" {
		return fmt.Errorf("chaos builds fleet from source: the working directory is in module %s, not github.com/tenantfleet/tenantfleet", path)
	}
	fmt.Fprintln(f.stderr, "building fleet...")
	f.baseBin = filepath.Join(f.dir, "fleet")
	if err := goBuild(ctx, dir, f.baseBin); err != nil {
		return err
	}
	if !f.cfg.marker {
		return nil
	}
	fmt.Fprintln(f.stderr, "building fleet with the marker migration (the release the migration run rolls out)...")
	src := filepath.Join(f.dir, markerMigrationFile)
	if err := os.WriteFile(src, []byte(markerMigration), 0o600); err != nil {
		return err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(dir, "tenants", "migrations", markerMigrationFile): src,
	}})
	overlayPath := filepath.Join(f.dir, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o600); err != nil {
		return err
	}
	f.nextBin = filepath.Join(f.dir, "fleet-next")
	return goBuild(ctx, dir, f.nextBin, "-overlay", overlayPath)
}

func goBuild(ctx context.Context, dir, out string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, "./cmd/fleet")
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // G204: go build with arguments built here
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// ticketSecretVariable names the variable that holds the secret of
// /webhooks/tickets in the fleet binary bin: FLEET_TICKET_WEBHOOK_SECRET
// where `fleet config` knows it (one secret per webhook source), else the
// older shared FLEET_WEBHOOK_SECRET.
func ticketSecretVariable(ctx context.Context, bin string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "config") //nolint:gosec // G204: the fleet binary this scenario built
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("fleet config: %w", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(out, &keys); err != nil {
		return "", fmt.Errorf("fleet config printed no JSON object: %w", err)
	}
	if _, ok := keys["ticket_webhook_secret"]; ok {
		return "FLEET_TICKET_WEBHOOK_SECRET", nil
	}
	return "FLEET_WEBHOOK_SECRET", nil
}

// environWithoutFleet is this process's environment without FLEET_*
// variables: the children get exactly the fleet configuration set here.
// Only the Redis TLS files (FLEET_REDIS_*_FILE) pass through, since the
// children reach the same server.
func environWithoutFleet() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "FLEET_") || strings.HasPrefix(name, "FLEET_REDIS_") && strings.HasSuffix(name, "_FILE") {
			env = append(env, kv)
		}
	}
	return env
}

func freeLocalAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProc starts `fleet run` with the fleet's environment and watches
// for it dying on its own.
func (f *chaosFleet) startProc(name, bin string, args ...string) (*fleetProc, error) {
	p, err := startProc(name, bin, filepath.Join(f.logDir, name+".log"), f.env, append([]string{"run"}, args...)...)
	if err != nil {
		return nil, err
	}
	go f.watch(p)
	return p, nil
}

// startWorker starts worker slot i with the current worker release. The
// caller holds f.mu or has not shared f yet.
func (f *chaosFleet) startWorker(i int) (*fleetProc, error) {
	f.gen++
	return f.startProc(fmt.Sprintf("worker-%d.%d", i, f.gen), f.workerBin, "--roles", "worker")
}

// watch restarts a process that exits without being told to (and counts
// it): the fleet must keep K workers and its api for the figures to mean
// anything.
func (f *chaosFleet) watch(p *fleetProc) {
	<-p.exited
	if p.intended.Load() {
		return
	}
	time.Sleep(500 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return
	}
	f.crashes++
	fmt.Fprintf(f.stderr, "%s exited on its own (%v): %s\n", p.name, p.err, p.lastLine())
	if f.crashes > maxCrashes {
		fmt.Fprintf(f.stderr, "more than %d crashes: not restarting %s\n", maxCrashes, p.name)
		return
	}
	switch p {
	case f.api:
		np, err := f.startProc("api", cmp.Or(f.nextBin, f.baseBin), "--roles", "api,scheduler")
		if err != nil {
			fmt.Fprintf(f.stderr, "restart api: %v\n", err)
			return
		}
		f.api = np
	default:
		for i, w := range f.workers {
			if w != p {
				continue
			}
			np, err := f.startWorker(i)
			if err != nil {
				fmt.Fprintf(f.stderr, "restart %s: %v\n", p.name, err)
				return
			}
			f.workers[i] = np
		}
	}
}

// killRandomWorker SIGKILLs a random worker and starts its replacement at
// once (without waiting for it to be ready). It returns the killed name.
func (f *chaosFleet) killRandomWorker() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(f.workers))))
	i := int(n.Int64())
	p := f.workers[i]
	if err := p.kill(); err != nil {
		return p.name, err
	}
	f.kills++
	np, err := f.startWorker(i)
	if err != nil {
		return p.name, err
	}
	f.workers[i] = np
	return p.name, nil
}

// deploy rolls the workers onto the second release, as a deploy would:
// the new processes start, and once one of them runs the old ones get
// SIGTERM and their shutdown timeout to finish what they hold (waiting for
// all of them would take long: the killer keeps killing new ones). It
// returns when no process of the old release is left, so no task of the
// migration run started next can reach one.
func (f *chaosFleet) deploy(ctx context.Context) error {
	f.mu.Lock()
	f.workerBin = f.nextBin
	old := append([]*fleetProc(nil), f.workers...)
	var err error
	for i := range f.workers {
		var np *fleetProc
		if np, err = f.startWorker(i); err != nil {
			break
		}
		f.workers[i] = np
	}
	f.mu.Unlock()
	// Old processes are out of their slots now: neither the killer nor
	// the crash watch touches them again.
	if err == nil {
		err = f.waitReady(ctx, 60*time.Second, 1)
	}
	var wg sync.WaitGroup
	stopErrs := make([]error, len(old))
	for i, p := range old {
		wg.Go(func() { stopErrs[i] = p.stop(f.cfg.shutdown + 10*time.Second) })
	}
	wg.Wait()
	return errors.Join(append([]error{err}, stopErrs...)...)
}

// waitReady waits until the api runs and at least workers of the worker
// slots (0: all of them) do. A process that dies first is replaced by the
// crash watch, and its replacement is waited for.
func (f *chaosFleet) waitReady(ctx context.Context, timeout time.Duration, workers int) error {
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		api, procs := f.api, append([]*fleetProc(nil), f.workers...)
		f.mu.Unlock()
		want := len(procs)
		if workers > 0 {
			want = min(workers, len(procs))
		}
		var waiting []string
		running := 0
		for _, p := range procs {
			if p.isReady() {
				running++
			} else {
				waiting = append(waiting, p.log.Name())
			}
		}
		if !api.isReady() {
			waiting = append(waiting, api.log.Name())
		} else if running >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not running within %s: see %s", timeout, strings.Join(waiting, ", "))
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// counts returns the kills and crashes so far.
func (f *chaosFleet) counts() (kills, crashes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kills, f.crashes
}

// flushRedis empties the fleet's Redis database: queues, scheduled and
// retried tasks, task ids, routes, semaphores.
func (f *chaosFleet) flushRedis(ctx context.Context) error {
	return f.lease.Client.FlushDB(ctx).Err()
}

// offboard runs `fleet tenants offboard ID` (the README's way; there is no
// API for it) and returns nil once the CLI exits 0.
func (f *chaosFleet) offboard(ctx context.Context, id string) error {
	f.mu.Lock()
	bin := f.workerBin
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "tenants", "offboard", id) //nolint:gosec // G204: the fleet binary this scenario built; id is one it generated
	cmd.Env = f.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("fleet tenants offboard %s: %w: %s", id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// errNoTenantsYet is a migration start refused because no tenant is
// active yet.
var errNoTenantsYet = errors.New("no active tenant to migrate yet")

// startMigration posts a fleet migration run to the API with an
// Idempotency-Key, as a careful client does, and returns the run id.
func (f *chaosFleet) startMigration(ctx context.Context, key string, cpuThreshold float64) (int64, error) {
	body, _ := json.Marshal(map[string]any{"concurrency": 5, "cpu_threshold": cpuThreshold})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.base+"/api/v1/migrations", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("X-Requested-By", "fleetbench chaos")
	resp, err := f.tickets.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode/100 == 2: // 202 for a new run; a replayed key may answer otherwise
		var out struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.ID <= 0 {
			return 0, fmt.Errorf("POST /api/v1/migrations: %d without a run id: %s", resp.StatusCode, raw)
		}
		return out.ID, nil
	case resp.StatusCode == http.StatusUnprocessableEntity:
		if bytes.Contains(raw, []byte("no tenant")) {
			return 0, errNoTenantsYet
		}
	}
	return 0, fmt.Errorf("POST /api/v1/migrations answered %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
}

// close kills every process and removes the fleet: its Redis database,
// instance databases, control plane, roles and the temp dir (the logs
// stay when they were asked for in a directory of their own).
func (f *chaosFleet) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f.mu.Lock()
	f.stopping = true
	procs := append([]*fleetProc(nil), f.workers...)
	if f.api != nil {
		procs = append(procs, f.api)
	}
	f.mu.Unlock()
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.kill())
	}
	if f.cp != nil {
		f.cp.Close()
	}
	if f.lease != nil {
		errs = append(errs, f.lease.Release(ctx))
	}
	if f.adminURL != "" {
		errs = append(errs, dropFleet(ctx, f.adminURL, f.fleet, f.cpDB))
	}
	if f.dir != "" {
		errs = append(errs, os.RemoveAll(f.dir))
	}
	if err := errors.Join(errs...); err != nil {
		f.log.Warn("cleanup incomplete", slog.Any("error", err))
	}
}
