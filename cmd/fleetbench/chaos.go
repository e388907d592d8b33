package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// chaosResult is the last line of `fleetbench chaos`. The first fields are
// the figures the issue asks for; the rest say what was done and why a
// figure is not zero.
type chaosResult struct {
	Scenario   string  `json:"scenario"`
	Submitted  int     `json:"submitted"`
	Active     int     `json:"active"`
	Offboarded int     `json:"offboarded"`
	Lost       int     `json:"lost"`
	Duplicates int     `json:"duplicates"`
	Stuck      int     `json:"stuck"`
	Seconds    float64 `json:"seconds"`

	Accepted          int      `json:"accepted"`
	Rejected          int      `json:"rejected"`
	OffboardRequested int      `json:"offboard_requested"`
	Unmigrated        int      `json:"unmigrated"`
	Broken            int      `json:"broken"`
	MigrationFailed   int      `json:"migration_failed"`
	Runs              []string `json:"runs,omitempty"`
	Workers           int      `json:"workers"`
	Kills             int      `json:"kills"`
	Flushes           int      `json:"flushes"`
	Crashes           int      `json:"crashes"`
	FaultSeconds      float64  `json:"fault_seconds"`
	// StuckAfterDrain is the stuck figure again after -drain more time
	// (with -drain only): stuck work that finishes late is slow, the
	// rest is stuck for good.
	StuckAfterDrain *int           `json:"stuck_after_drain,omitempty"`
	LostBy          map[string]int `json:"lost_by,omitempty"`
	DuplicatesBy    map[string]int `json:"duplicates_by,omitempty"`
	StuckBy         map[string]int `json:"stuck_by,omitempty"`
}

// chaosOptions are the flags of `fleetbench chaos`.
type chaosOptions struct {
	tenants      int
	workers      int
	offboard     int
	rate         float64
	killEvery    time.Duration
	flushAt      time.Duration
	migrate      bool
	migrateAt    time.Duration
	migrateCPU   float64
	repeatPost   bool
	offboardAt   time.Duration
	settle       time.Duration
	drain        time.Duration
	timeout      time.Duration
	concurrency  int
	maxTenants   int
	shutdown     time.Duration
	logDir       string
	progressTick time.Duration
}

func parseChaosFlags(args []string, stderr io.Writer) (chaosOptions, error) {
	var o chaosOptions
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.tenants, "tenants", 50, "onboardings to submit through the signed ticket webhook")
	fs.IntVar(&o.workers, "workers", 3, "`fleet run --roles worker` processes")
	fs.IntVar(&o.offboard, "offboard", 0, "tenants to offboard (with `fleet tenants offboard`) once active, while faults continue")
	fs.Float64Var(&o.rate, "rate", 50, "webhooks per second; 0 sends them as fast as 32 senders can")
	fs.DurationVar(&o.killEvery, "kill-every", 0, "SIGKILL a random worker this often and restart it (0: never)")
	fs.DurationVar(&o.flushAt, "flush-redis-at", 0, "FLUSHDB the fleet's Redis database once, this long after the first webhook (0: never)")
	fs.BoolVar(&o.migrate, "migrate", false, "deploy a release with one more tenant migration in the middle and start a fleet migration run of it")
	fs.DurationVar(&o.migrateAt, "migrate-at", time.Second, "with -migrate: when the deploy starts, after the first webhook; the run starts once no old worker is left")
	fs.Float64Var(&o.migrateCPU, "migrate-cpu", 100, "with -migrate: the run's cpu_threshold (the fleet's default is 70; the server's load here is shared with whatever else runs)")
	fs.BoolVar(&o.repeatPost, "migrate-repeat", true, "with -migrate: send the POST a second time with the same Idempotency-Key, as a client does whose first answer was lost")
	fs.DurationVar(&o.offboardAt, "offboard-at", 3*time.Second, "when offboarding starts, after the first webhook")
	fs.DurationVar(&o.settle, "settle", 60*time.Second, "after the faults stop, how long work may take to finish before it counts as stuck")
	fs.DurationVar(&o.drain, "drain", 0, "after the audit, wait up to this much longer for stuck work and count it again (0: don't)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on the fault phase (submitting everything)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "FLEET_WORKER_CONCURRENCY of each worker (the server's connections are shared)")
	fs.IntVar(&o.maxTenants, "max-tenants-per-instance", 200, "FLEET_MAX_TENANTS_PER_INSTANCE, so shared instances get created during the run")
	fs.DurationVar(&o.shutdown, "shutdown-timeout", time.Second, "FLEET_SHUTDOWN_TIMEOUT of the processes (the deploy's graceful stop)")
	fs.StringVar(&o.logDir, "logs", "", "keep the fleet processes' logs in this directory (default: a temp dir, removed)")
	fs.DurationVar(&o.progressTick, "progress", 2*time.Second, "how often a progress line goes to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if o.tenants < 1 || o.workers < 1 || o.concurrency < 1 || o.maxTenants < 1 {
		errs = append(errs, errors.New("-tenants, -workers, -concurrency and -max-tenants-per-instance must be at least 1"))
	}
	if o.offboard < 0 || o.offboard > o.tenants {
		errs = append(errs, errors.New("-offboard must be between 0 and -tenants"))
	}
	if o.rate < 0 || o.killEvery < 0 || o.flushAt < 0 || o.migrateAt < 0 || o.offboardAt < 0 {
		errs = append(errs, errors.New("-rate, -kill-every, -flush-redis-at, -migrate-at and -offboard-at must not be negative"))
	}
	if o.killEvery > 0 && o.killEvery < 100*time.Millisecond {
		errs = append(errs, errors.New("-kill-every below 100ms is no fleet at all"))
	}
	if o.migrateCPU <= 0 || o.migrateCPU > 100 {
		errs = append(errs, errors.New("-migrate-cpu must be above 0 and at most 100"))
	}
	if o.drain < 0 {
		errs = append(errs, errors.New("-drain must not be negative"))
	}
	if o.settle <= 0 || o.timeout <= 0 || o.progressTick <= 0 || o.shutdown <= 0 {
		errs = append(errs, errors.New("-settle, -timeout, -progress and -shutdown-timeout must be positive"))
	}
	return o, errors.Join(errs...)
}

// chaosState is what the fault phase did, shared by its goroutines.
type chaosState struct {
	mu        sync.Mutex
	submitted int
	accepted  []string
	rejected  int
	offboards []string // acknowledged by the CLI
	chosen    map[string]bool
	runIDs    []int64
	flushes   int
}

func (s *chaosState) snapshot() (accepted, offboards []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted), slices.Clone(s.offboards)
}

// runChaos is `fleetbench chaos`: a real fleet of processes takes signed
// onboarding webhooks while workers are SIGKILLed and restarted, Redis is
// flushed once, a release with one more tenant migration is deployed and
// rolled out with a fleet migration run, and tenants are offboarded. When
// everything is submitted the faults stop; work then gets -settle to
// finish, and the end state is audited against the control plane and the
// instances.
func runChaos(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	o, err := parseChaosFlags(args, stderr)
	if err != nil {
		return err
	}
	f, err := startChaosFleet(ctx, cfg, chaosFleetConfig{workers: o.workers, concurrency: o.concurrency,
		maxTenants: o.maxTenants, shutdown: o.shutdown, marker: o.migrate, logDir: o.logDir}, stderr)
	if err != nil {
		return err
	}
	defer f.close()
	fmt.Fprintf(stderr, "fleet %s: api+scheduler and %d workers running; logs in %s\n", f.fleet, o.workers, f.logDir)

	st := &chaosState{chosen: map[string]bool{}}
	start := time.Now()
	faultsCtx, stopFaults := context.WithTimeout(ctx, o.timeout)
	defer stopFaults()
	var work, faults sync.WaitGroup // work: submissions; faults: the killer
	work.Go(func() { sendTickets(faultsCtx, f, o, st) })
	if o.flushAt > 0 {
		work.Go(func() {
			if sleepCtx(faultsCtx, time.Until(start.Add(o.flushAt))) {
				if err := f.flushRedis(faultsCtx); err != nil {
					fmt.Fprintf(stderr, "FLUSHDB failed: %v\n", err)
					return
				}
				st.mu.Lock()
				st.flushes++
				st.mu.Unlock()
				fmt.Fprintf(stderr, "[%5.1fs] FLUSHDB of redis database %d\n", time.Since(start).Seconds(), f.lease.DB)
			}
		})
	}
	if o.migrate {
		work.Go(func() { deployAndMigrate(faultsCtx, f, o, st, start) })
	}
	if o.offboard > 0 {
		work.Go(func() { offboardTenants(faultsCtx, f, o, st, start) })
	}
	killerCtx, stopKiller := context.WithCancel(faultsCtx)
	if o.killEvery > 0 {
		faults.Go(func() { killWorkers(killerCtx, f, o.killEvery, start, stderr) })
	}
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go reportProgress(progressCtx, f, st, start, o.progressTick, stderr)

	work.Wait()
	stopKiller()
	faults.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if faultsCtx.Err() != nil {
		fmt.Fprintf(stderr, "the fault phase hit -timeout %s before everything was submitted\n", o.timeout)
	}
	faultTime := time.Since(start)
	fmt.Fprintf(stderr, "[%5.1fs] faults stopped; waiting up to %s for the work to finish\n", faultTime.Seconds(), o.settle)
	if err := f.waitReady(ctx, 60*time.Second, 0); err != nil {
		fmt.Fprintf(stderr, "not every worker is running: %v\n", err)
	}

	accepted, offboards := st.snapshot()
	a := chaosAudit{cp: f.cp, adminURL: f.adminURL, fleet: f.fleet, accepted: accepted, offboards: offboards,
		runs: min(len(st.runIDs), 1), marker: o.migrate && len(st.runIDs) > 0}
	if _, err := a.waitFinished(ctx, o.settle); err != nil {
		return err
	}
	seconds := time.Since(start)
	stopProgress()
	fmt.Fprintf(stderr, "[%5.1fs] auditing\n", seconds.Seconds())
	res, err := a.run(ctx)
	if err != nil {
		return err
	}
	if len(res.Lost)+len(res.Stuck) > 0 {
		fmt.Fprintln(stderr, "lost or unfinished work, and where it is:")
		insp := asynq.NewInspectorFromRedisClient(f.lease.Client)
		explainFailures(ctx, f.cp, insp, offboards, stderr)
	}
	var stuckAfterDrain *int
	if o.drain > 0 && len(res.Stuck) > 0 {
		fmt.Fprintf(stderr, "[%5.1fs] waiting up to -drain %s more for the stuck work\n", time.Since(start).Seconds(), o.drain)
		left, err := a.waitFinished(ctx, o.drain)
		if err != nil {
			return err
		}
		n := sum(left)
		stuckAfterDrain = &n
		fmt.Fprintf(stderr, "[%5.1fs] stuck after the drain: %d %v\n", time.Since(start).Seconds(), n, left)
	}
	kills, crashes := f.counts()
	st.mu.Lock()
	out := chaosResult{Scenario: "chaos", Submitted: st.submitted, Active: res.Active, Offboarded: res.Offboarded,
		Lost: sum(res.Lost), Duplicates: sum(res.Duplicates), Stuck: sum(res.Stuck), Seconds: round(seconds.Seconds()),
		Accepted: len(st.accepted), Rejected: st.rejected, OffboardRequested: len(st.offboards),
		Unmigrated: res.Unmigrated, Broken: res.Broken, MigrationFailed: res.MigrationFailed, Runs: res.RunStatus,
		Workers: o.workers, Kills: kills, Flushes: st.flushes, Crashes: crashes, FaultSeconds: round(faultTime.Seconds()),
		StuckAfterDrain: stuckAfterDrain, LostBy: nonZero(res.Lost), DuplicatesBy: res.Duplicates, StuckBy: res.Stuck}
	st.mu.Unlock()
	return printResult(stdout, out)
}

// sleepCtx sleeps for d (nothing if d <= 0) and reports whether ctx is
// still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sendTickets submits o.tenants onboardings at o.rate. A webhook that is
// not answered 202 is redelivered (same webhook-id) up to 4 more times, as
// Standard Webhooks senders do; one that never is counts as rejected.
func sendTickets(ctx context.Context, f *chaosFleet, o chaosOptions, st *chaosState) {
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	start := time.Now()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range o.tenants {
		if !sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*interval))) {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		id := fmt.Sprintf("chaos-%05d", i)
		st.mu.Lock()
		st.submitted++
		st.mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			for attempt := range 5 {
				if err = f.tickets.send(ctx, "CHAOS-"+id, id, "msg_"+id+"_"+f.fleet); err == nil {
					break
				}
				if !sleepCtx(ctx, time.Duration(200<<attempt)*time.Millisecond) {
					break
				}
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if err != nil {
				st.rejected++
				fmt.Fprintf(f.stderr, "webhook for %s not acknowledged: %v\n", id, err)
				return
			}
			st.accepted = append(st.accepted, id)
		})
	}
}

// killWorkers SIGKILLs a random worker every d until ctx ends.
func killWorkers(ctx context.Context, f *chaosFleet, d time.Duration, start time.Time, stderr io.Writer) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name, err := f.killRandomWorker()
		if err != nil {
			fmt.Fprintf(stderr, "kill %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(stderr, "[%5.1fs] SIGKILL %s, restarted\n", time.Since(start).Seconds(), name)
	}
}

// deployAndMigrate deploys the release with the marker migration at
// o.migrateAt, then starts the fleet migration run through the API (again
// with the same Idempotency-Key when o.repeatPost).
func deployAndMigrate(ctx context.Context, f *chaosFleet, o chaosOptions, st *chaosState, start time.Time) {
	if !sleepCtx(ctx, time.Until(start.Add(o.migrateAt))) {
		return
	}
	fmt.Fprintf(f.stderr, "[%5.1fs] deploying the release with the marker migration to the workers\n", time.Since(start).Seconds())
	if err := f.deploy(ctx); err != nil {
		fmt.Fprintf(f.stderr, "deploy: %v\n", err)
		return
	}
	key := "fleetbench-chaos-" + f.fleet
	posts := 1
	if o.repeatPost {
		posts = 2
	}
	for i := 0; i < posts; {
		id, err := f.startMigration(ctx, key, o.migrateCPU)
		if err != nil {
			if errors.Is(err, errNoTenantsYet) {
				if !sleepCtx(ctx, 200*time.Millisecond) {
					return
				}
				continue
			}
			fmt.Fprintf(f.stderr, "start migration run: %v\n", err)
			return
		}
		fmt.Fprintf(f.stderr, "[%5.1fs] POST /api/v1/migrations (%d of %d): run %d\n", time.Since(start).Seconds(), i+1, posts, id)
		st.mu.Lock()
		if !slices.Contains(st.runIDs, id) {
			st.runIDs = append(st.runIDs, id)
		}
		st.mu.Unlock()
		i++
	}
}

// offboardTenants offboards o.offboard tenants from o.offboardAt on, each
// as soon as it is seen active, three CLI calls at a time. A CLI call that
// fails is retried (up to 3 times) a little later.
func offboardTenants(ctx context.Context, f *chaosFleet, o chaosOptions, st *chaosState, start time.Time) {
	if !sleepCtx(ctx, time.Until(start.Add(o.offboardAt))) {
		return
	}
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	defer wg.Wait()
	for picked := 0; picked < o.offboard; {
		active, err := controlplane.NewStore(f.cp).TenantIDs(ctx, tenants.TenantActive)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(f.stderr, "offboard: list active tenants: %v\n", err)
			}
			return
		}
		for _, id := range active {
			if picked == o.offboard {
				break
			}
			st.mu.Lock()
			taken := st.chosen[id]
			st.chosen[id] = true
			st.mu.Unlock()
			if taken {
				continue
			}
			picked++
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				var err error
				for attempt := range 3 {
					if err = f.offboard(ctx, id); err == nil || !sleepCtx(ctx, time.Duration(500<<attempt)*time.Millisecond) {
						break
					}
				}
				if err != nil {
					fmt.Fprintf(f.stderr, "offboard %s not acknowledged: %v\n", id, err)
					return
				}
				st.mu.Lock()
				st.offboards = append(st.offboards, id)
				st.mu.Unlock()
			})
		}
		if picked < o.offboard && !sleepCtx(ctx, 200*time.Millisecond) {
			return
		}
	}
}

// reportProgress writes a progress line to stderr every tick.
func reportProgress(ctx context.Context, f *chaosFleet, st *chaosState, start time.Time, tick time.Duration, stderr io.Writer) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		counts, _ := controlplane.NewStore(f.cp).CountByStatus(ctx)
		var statuses []string
		for _, s := range slices.Sorted(maps.Keys(counts)) {
			statuses = append(statuses, fmt.Sprintf("%s %d", s, counts[s]))
		}
		runs, _ := controlplane.NewStore(f.cp).MigrationTenantProgress(ctx)
		kills, _ := f.counts()
		st.mu.Lock()
		line := fmt.Sprintf("[%5.1fs] webhooks %d (202: %d), tenants: %s; offboards asked %d; run tenants %d/%d; kills %d",
			time.Since(start).Seconds(), st.submitted, len(st.accepted), strings.Join(statuses, ", "),
			len(st.offboards), runs.Finished, runs.Total, kills)
		st.mu.Unlock()
		fmt.Fprintln(stderr, line)
	}
}
