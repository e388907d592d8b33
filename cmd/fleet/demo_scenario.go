package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// demo is one run of fleet demo: where the fleet and the application
// answer, and the progress log.
type demo struct {
	opts         demoOptions
	out          io.Writer
	start        time.Time
	hc           *http.Client
	api          string
	token        string
	ticketSecret string
	appToken     string
	app          *exampleApp
	mu           sync.Mutex
}

// demoTenant is one of the demo's tenants.
type demoTenant struct{ id, name string }

// demoTenants are the dozen tenants the demo onboards.
var demoTenants = []demoTenant{
	{"acme-bank", "Acme Bank"}, {"globex", "Globex"}, {"initech", "Initech"}, {"umbrella", "Umbrella Health"},
	{"hooli", "Hooli"}, {"stark", "Stark Industries"}, {"wayne", "Wayne Enterprises"}, {"wonka", "Wonka Foods"},
	{"tyrell", "Tyrell Corp"}, {"cyberdyne", "Cyberdyne Systems"}, {"soylent", "Soylent"}, {"oscorp", "Oscorp"},
}

// The case study's load, as fleetbench exhaust runs it: 4 batch workers
// per tenant, each job holding a connection 50 ms, on a pool of 20 (the
// example application's -pool); one interactive caller beside them.
const (
	demoBatchWorkers = 4
	demoBatchMS      = 50
	// demoAccounts is how many accounts each tenant opens through the
	// application before the load: enough rows for the accounts list's
	// sort to be worth an index.
	demoAccounts = 120
	// demoListCalls is how many times each tenant lists its accounts
	// after the load (the cost agent considers statements run at least
	// 10 times).
	demoListCalls = 15
)

// logf prints one progress line, prefixed with the time since the start.
func (d *demo) logf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "[%6.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// since formats t as seconds since the demo's start.
func (d *demo) since(t time.Time) string { return fmt.Sprintf("%.1fs", t.Sub(d.start).Seconds()) }

// printAccess prints the dashboard's address and the login.
func (d *demo) printAccess(user, password, token string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	login := "user " + user + ", password " + password
	fmt.Fprintf(d.out, `
  Dashboard:  %s/
  Asynqmon:   %s/monitoring/
  Login:      %s
              (or send Authorization: Bearer %s to %s/api/v1/...)

`, d.api, d.api, login, token, d.api)
}

// demoResult is what the scenario saw, for the summary and --check.
type demoResult struct {
	start       time.Time
	instance    string
	onboardedAt time.Time
	loadStarted time.Time
	loadStopped time.Time
	batchOK     int64
	batch503    int64
	// interactiveP50 and interactiveP99 are the interactive caller's
	// latencies during the load (served from the pool's reserve).
	interactiveP50, interactiveP99 time.Duration
	// alert is the first pool_exhausted alert of the run; resolved is set
	// once every one of them resolved.
	alert      *demoAlert
	resolvedAt time.Time
	run        demoRun
	analyzed   int
	recs       []demoRecommendation
}

// verdict is --check's answer: nil only if every check passed within
// timeout of the start.
func (r demoResult) verdict(timeout time.Duration) error {
	var errs []error
	limit := r.start.Add(timeout)
	switch {
	case r.alert == nil:
		errs = append(errs, errors.New("no pool_exhausted alert fired"))
	case r.resolvedAt.IsZero():
		errs = append(errs, errors.New("the pool_exhausted alert did not resolve"))
	case r.resolvedAt.After(limit):
		errs = append(errs, fmt.Errorf("the pool_exhausted alert resolved after %s", r.resolvedAt.Sub(r.start).Round(time.Second)))
	}
	switch {
	case r.run.ID == 0:
		errs = append(errs, errors.New("no migration run started"))
	case r.run.Status != "succeeded":
		errs = append(errs, fmt.Errorf("migration run %d is %s", r.run.ID, r.run.Status))
	case r.run.FinishedAt == nil || r.run.FinishedAt.After(limit):
		errs = append(errs, fmt.Errorf("migration run %d did not finish in time", r.run.ID))
	}
	if len(r.recs) == 0 {
		errs = append(errs, errors.New("no open recommendation"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("demo check failed: %w", errors.Join(errs...))
	}
	return nil
}

// scenario drives the demo: onboard, seed, load until the alert fires,
// stop the load, start a migration run, list accounts, analyze cost, wait
// for the resolve and the run's end, read the recommendations. analyze
// runs one cost analysis and answers how many recommendations it made.
func (d *demo) scenario(ctx context.Context, analyze func(context.Context) (int, error)) (demoResult, error) {
	res := demoResult{start: d.start}
	deadline := d.start.Add(d.opts.timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()

	if err := d.onboard(ctx, &res); err != nil {
		return res, err
	}
	if err := d.seedAccounts(ctx); err != nil {
		return res, err
	}
	d.runLoad(ctx, &res)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	// A migration run over every tenant, through the API (the dashboard's
	// and the CLI's path).
	var started struct {
		ID int64 `json:"id"`
	}
	if err := d.call(ctx, http.MethodPost, "/api/v1/migrations", map[string]any{}, http.StatusAccepted, &started); err != nil {
		return res, fmt.Errorf("start a migration run: %w", err)
	}
	res.run.ID = started.ID
	d.logf("migration run %d started over every tenant (POST /api/v1/migrations)", started.ID)

	// The dashboard traffic of the morning after: every tenant lists its
	// accounts, a statement sorted on a column without an index.
	if err := d.listAccounts(ctx); err != nil {
		return res, err
	}
	d.logf("cost analysis running (pg_stat_statements per tenant, index candidates verified with HypoPG as each tenant)")
	n, err := analyze(ctx)
	if err != nil {
		return res, fmt.Errorf("cost analysis: %w", err)
	}
	res.analyzed = n
	d.logf("cost analysis done: %d recommendation(s)", n)

	d.waitOutcome(ctx, &res, deadline)
	if res.recs, err = d.openRecommendations(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// onboard sends every tenant's ticket and waits until all are active.
func (d *demo) onboard(ctx context.Context, res *demoResult) error {
	d.logf("onboarding %d tenants through the signed ticket webhook (POST %s/webhooks/tickets)", len(demoTenants), d.api)
	for _, t := range demoTenants {
		if err := d.sendTicket(ctx, t, "msg_demo_"+t.id); err != nil {
			return fmt.Errorf("onboard %s: %w", t.id, err)
		}
	}
	instances := map[string]bool{}
	for _, t := range demoTenants {
		for {
			var got struct {
				Status   string `json:"status"`
				Instance string `json:"instance"`
			}
			err := d.call(ctx, http.MethodGet, "/api/v1/tenants/"+t.id, nil, http.StatusOK, &got)
			if err == nil && got.Status == "active" {
				instances[got.Instance] = true
				break
			}
			if err == nil && got.Status == "failed" {
				return fmt.Errorf("onboarding %s failed", t.id)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("tenant %s not active: %w", t.id, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	res.onboardedAt = time.Now()
	for id := range instances {
		res.instance = id
	}
	d.logf("%d tenants active on %d shared instance(s) (%s): role, schema, migrations, route each",
		len(demoTenants), len(instances), strings.Join(slices.Sorted(maps.Keys(instances)), ", "))
	return nil
}

// appRequest sends one request to the example application as tenant
// code does, and answers the status.
func (d *demo) appRequest(ctx context.Context, method, path, body string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.app.url(path), rd)
	if err != nil {
		return 0, err
	}
	d.app.authorize(req, d.appToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// seedAccounts opens demoAccounts accounts per tenant through the
// application's API.
func (d *demo) seedAccounts(ctx context.Context) error {
	t0 := time.Now()
	var wg sync.WaitGroup
	const perTenant = 2 // concurrent callers per tenant
	errs := make([]error, len(demoTenants)*perTenant)
	for i := range errs {
		t := demoTenants[i/perTenant]
		wg.Go(func() {
			for n := i % perTenant; n < demoAccounts; n += perTenant {
				body := fmt.Sprintf(`{"external_ref":"%s-%04d","holder_name":"Customer %d of %s","currency":"EUR"}`, t.id, n, n, t.name)
				code, err := d.appRequest(ctx, http.MethodPost, "/t/"+t.id+"/accounts", body)
				if err == nil && code != http.StatusCreated {
					err = fmt.Errorf("answered %d", code)
				}
				if err != nil {
					errs[i] = fmt.Errorf("open an account of %s through the example application: %w", t.id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.logf("%d accounts opened per tenant through the example application (POST /t/{tenant}/accounts) in %.1fs",
		demoAccounts, time.Since(t0).Seconds())
	return nil
}

// runLoad runs the case study's noisy batch load on every tenant through
// the example application (POST /t/{tenant}/work: a batch-priority job
// holding a pool connection) with one interactive caller listing
// accounts, until the pool_exhausted alert has fired and hold has passed,
// or opts.load at most; then it stops the load.
func (d *demo) runLoad(ctx context.Context, res *demoResult) {
	// Stopping lets each worker finish its job (the application sees no
	// cancelled requests); an interrupt cancels them.
	var stopped atomic.Bool
	running := func() bool { return !stopped.Load() && ctx.Err() == nil }
	var wg sync.WaitGroup
	var ok, unavailable atomic.Int64
	for _, t := range demoTenants {
		for range demoBatchWorkers {
			wg.Go(func() {
				for running() {
					code, err := d.appRequest(ctx, http.MethodPost, fmt.Sprintf("/t/%s/work?ms=%d", t.id, demoBatchMS), "")
					switch {
					case err == nil && code == http.StatusNoContent:
						ok.Add(1)
					case err == nil && code == http.StatusServiceUnavailable:
						unavailable.Add(1)
					}
				}
			})
		}
	}
	var interactive []time.Duration // only this goroutine appends, read after wg.Wait
	wg.Go(func() {
		for i := 0; running(); i++ {
			t0 := time.Now()
			if code, err := d.appRequest(ctx, http.MethodGet, "/t/"+demoTenants[i%len(demoTenants)].id+"/accounts", ""); err == nil && code == http.StatusOK {
				interactive = append(interactive, time.Since(t0))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	res.loadStarted = time.Now()
	d.logf("noisy batch load started: %d tenants x %d batch workers holding %d ms each, on the application's pool of 20",
		len(demoTenants), demoBatchWorkers, demoBatchMS)
	bound := res.loadStarted.Add(d.opts.load)
	stopAt := bound
	for time.Now().Before(stopAt) && ctx.Err() == nil {
		if res.alert == nil {
			if as, err := d.poolAlerts(ctx); err == nil {
				if a := firstAlert(as); a != nil {
					res.alert = a
					d.logf("ALERT pool_exhausted fired on %s after %.1fs of load: %s", a.Subject, a.StartedAt.Sub(res.loadStarted).Seconds(), a.Summary)
					if at := time.Now().Add(d.opts.hold); at.Before(bound) {
						stopAt = at
					}
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	stopped.Store(true)
	wg.Wait()
	res.loadStopped = time.Now()
	res.batchOK, res.batch503 = ok.Load(), unavailable.Load()
	slices.Sort(interactive)
	if n := len(interactive); n > 0 {
		res.interactiveP50, res.interactiveP99 = interactive[n/2], interactive[n*99/100]
	}
	d.logf("noisy load stopped after %.1fs: %d batch jobs done, %d answered 503 + Retry-After; interactive account lists beside it: %d, p50 %s, p99 %s",
		res.loadStopped.Sub(res.loadStarted).Seconds(), res.batchOK, res.batch503, len(interactive),
		res.interactiveP50.Round(100*time.Microsecond), res.interactiveP99.Round(100*time.Microsecond))
}

// firstAlert is the earliest alert of as.
func firstAlert(as []demoAlert) *demoAlert {
	var first *demoAlert
	for i := range as {
		if first == nil || as[i].StartedAt.Before(first.StartedAt) {
			first = &as[i]
		}
	}
	return first
}

// listAccounts has every tenant list its accounts demoListCalls times.
func (d *demo) listAccounts(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(demoTenants))
	for i, t := range demoTenants {
		wg.Go(func() {
			for range demoListCalls {
				code, err := d.appRequest(ctx, http.MethodGet, "/t/"+t.id+"/accounts", "")
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("answered %d", code)
				}
				if err != nil {
					errs[i] = fmt.Errorf("list the accounts of %s: %w", t.id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.logf("every tenant listed its accounts %d times (GET /t/{tenant}/accounts: ORDER BY opened_at, no index on it)", demoListCalls)
	return nil
}

// waitOutcome waits until every pool_exhausted alert resolved and the
// migration run finished, or deadline.
func (d *demo) waitOutcome(ctx context.Context, res *demoResult, deadline time.Time) {
	runLogged := false
	for {
		if res.resolvedAt.IsZero() {
			if as, err := d.poolAlerts(ctx); err == nil && len(as) > 0 {
				if res.alert == nil {
					res.alert = firstAlert(as)
				}
				if at, all := allResolved(as); all {
					res.resolvedAt = at
					d.logf("RESOLVED pool_exhausted on %s, %.1fs after the load stopped", res.alert.Subject, at.Sub(res.loadStopped).Seconds())
				}
			}
		}
		if !runLogged {
			var run demoRun
			if err := d.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/migrations/%d", res.run.ID), nil, http.StatusOK, &run); err == nil {
				res.run = run
				if run.FinishedAt != nil {
					runLogged = true
					d.logf("migration run %d %s: %d of %d tenants succeeded, %d failed", run.ID, run.Status,
						run.Counts.Succeeded, run.Counts.Total, run.Counts.Failed)
				}
			}
		}
		if (!res.resolvedAt.IsZero() && runLogged) || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// allResolved reports whether every alert of as resolved, and the last
// resolve.
func allResolved(as []demoAlert) (time.Time, bool) {
	var last time.Time
	for _, a := range as {
		if a.ResolvedAt == nil {
			return time.Time{}, false
		}
		if a.ResolvedAt.After(last) {
			last = *a.ResolvedAt
		}
	}
	return last, true
}

// printSummary prints what the demo saw.
func (d *demo) printSummary(r demoResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.out
	fmt.Fprintln(w, "\nSummary")
	if !r.onboardedAt.IsZero() {
		fmt.Fprintf(w, "  tenants onboarded:      %d through the webhook, active at %s (instance %s)\n", len(demoTenants), d.since(r.onboardedAt), r.instance)
	}
	if !r.loadStarted.IsZero() {
		fmt.Fprintf(w, "  noisy load:             %s to %s (%d batch jobs, %d answered 503; interactive p99 %s)\n", d.since(r.loadStarted), d.since(r.loadStopped),
			r.batchOK, r.batch503, r.interactiveP99.Round(100*time.Microsecond))
	}
	if r.alert != nil {
		fmt.Fprintf(w, "  alert fired at:         %s (%s, %s)\n", d.since(r.alert.StartedAt), r.alert.StartedAt.UTC().Format(time.TimeOnly), r.alert.Subject)
	} else {
		fmt.Fprintln(w, "  alert fired at:         (not fired)")
	}
	if !r.resolvedAt.IsZero() {
		fmt.Fprintf(w, "  alert resolved at:      %s (%s)\n", d.since(r.resolvedAt), r.resolvedAt.UTC().Format(time.TimeOnly))
	} else {
		fmt.Fprintln(w, "  alert resolved at:      (not yet)")
	}
	switch {
	case r.run.ID == 0:
		fmt.Fprintln(w, "  migration run:          (not started)")
	case r.run.FinishedAt != nil:
		fmt.Fprintf(w, "  migration finished:     run %d %s at %s (%d/%d tenants)\n", r.run.ID, r.run.Status, d.since(*r.run.FinishedAt), r.run.Counts.Succeeded, r.run.Counts.Total)
	default:
		fmt.Fprintf(w, "  migration run:          %d still %s\n", r.run.ID, r.run.Status)
	}
	fmt.Fprintf(w, "  recommendations:        %d open\n", len(r.recs))
	for _, rec := range r.recs {
		fmt.Fprintf(w, "    #%d %s\n       %d tenants, planner cost %.1f -> %.1f, saves %.3g USD/month at the demo's rate\n",
			rec.ID, rec.Statement, len(rec.Tenants), rec.CostBefore, rec.CostAfter, rec.MonthlySavingUSD)
	}
	fmt.Fprintln(w)
}
