package dashboard

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// RunView is one migration run with its tenants, failed first.
type RunView struct {
	migrate.RunStatus
	// DonePct is the finished share of its tenants.
	DonePct float64
	// Paused lists the distinct reasons its pending and paused tenants
	// wait for.
	Paused []string
}

// RunRow is one run of the list.
type RunRow struct {
	controlplane.MigrationRun
	DonePct float64
}

type migrationsData struct {
	Runs []RunRow
	// Selected is the run whose tenants are shown (the newest unless ?run=).
	Selected *RunView
	// MaxTenantRows bounds the tenants listed for the selected run.
	MaxTenantRows int
	Truncated     bool
}

// migrationRuns is how many runs the page lists; maxTenantRows how many
// tenants of the selected run it shows.
const (
	migrationRuns = 20
	maxTenantRows = 500
)

// tenantOrder puts failed tenants first, then paused, running, pending,
// succeeded.
var tenantOrder = map[migrate.TenantState]int{migrate.TenantFailed: 0, migrate.TenantPaused: 1,
	migrate.TenantRunning: 2, migrate.TenantPending: 3, migrate.TenantSucceeded: 4}

func (d *Dashboard) migrationList(r *http.Request) (string, string, any, error) {
	var selected int64
	for k, vals := range r.URL.Query() {
		if k != "run" || len(vals) != 1 {
			return "", "", nil, badParam("the migrations page takes one parameter, run")
		}
		n, err := strconv.ParseInt(vals[0], 10, 64)
		if err != nil || n <= 0 {
			return "", "", nil, badParam("run must be a positive integer")
		}
		selected = n
	}
	ctx := r.Context()
	runs, err := d.cfg.Store.RecentMigrationRuns(ctx, migrationRuns)
	if err != nil {
		return "", "", nil, err
	}
	out := migrationsData{MaxTenantRows: maxTenantRows}
	for _, run := range runs {
		out.Runs = append(out.Runs, RunRow{MigrationRun: run, DonePct: percent(run.Counts.Succeeded+run.Counts.Failed, run.Counts.Total)})
	}
	if selected == 0 && len(runs) > 0 {
		selected = runs[0].ID
	}
	if selected != 0 {
		st, err := d.cfg.Migrations.Status(ctx, selected)
		if errors.Is(err, controlplane.ErrMigrationRunNotFound) {
			return "", "", nil, notFound("migration run %d not found", selected)
		}
		if err != nil {
			return "", "", nil, err
		}
		v := runView(st)
		if len(v.Tenants) > maxTenantRows {
			v.Tenants, out.Truncated = v.Tenants[:maxTenantRows], true
		}
		out.Selected = &v
	}
	return "migrations", "Migrations", out, nil
}

// runView orders a run's tenants failed first and gathers its pause
// reasons.
func runView(st migrate.RunStatus) RunView {
	v := RunView{RunStatus: st, DonePct: percent(st.Counts.Succeeded+st.Counts.Failed, st.Counts.Total)}
	v.Tenants = slices.Clone(st.Tenants)
	slices.SortStableFunc(v.Tenants, func(a, b migrate.TenantResult) int {
		return cmp.Compare(tenantOrder[a.Status], tenantOrder[b.Status])
	})
	for _, t := range v.Tenants {
		if (t.Status == migrate.TenantPaused || t.Status == migrate.TenantPending) && t.Reason != "" && !slices.Contains(v.Paused, t.Reason) {
			v.Paused = append(v.Paused, t.Reason)
		}
	}
	return v
}
