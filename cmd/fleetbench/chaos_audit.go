package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// chaosAudit checks the end state of a chaos run against the control plane
// and the instances, from what the scenario knows it asked for: which
// onboardings were acknowledged (202), which offboardings the CLI took,
// how many migration runs it meant to start.
type chaosAudit struct {
	cp       *pgxpool.Pool
	adminURL string // any database of the server holding the instances
	fleet    string
	// accepted are the tenants whose webhook was answered 202.
	accepted []string
	// offboards are the tenants whose `fleet tenants offboard` exited 0.
	offboards []string
	// runs is how many migration runs the scenario meant to start (the
	// same request sent twice means one).
	runs int
	// marker says every tenant should end with markerTable holding one row.
	marker bool
}

// auditResult is what the audit found. Each map counts one figure by
// cause; the figures are their sums.
type auditResult struct {
	Active, Offboarded int
	Lost               map[string]int // accepted, never active: by what became of the request
	Duplicates         map[string]int // side effects done more than once
	Stuck              map[string]int // work not finished
	// Unmigrated counts active tenants without the marker row.
	Unmigrated int
	// Broken counts tenants whose data is not where the control plane
	// says: an active tenant without its schema on its instance, an
	// offboarded one whose schema is still live.
	Broken int
	// MigrationFailed counts tenants a run gave up on that are not
	// offboarded (a run may fail a tenant offboarded under it).
	MigrationFailed int
	// RunStatus is the status of each run, oldest first.
	RunStatus []string
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// stuck counts unfinished work: onboardings (a request still pending or
// enqueued, or a tenant still pending or provisioning), offboardings asked
// for and not done (or a tenant left offboarding), and migration runs still
// running (each unfinished tenant, or 1 for a run whose tenants all
// finished but which is not closed).
func (a chaosAudit) stuck(ctx context.Context) (map[string]int, error) {
	w, err := a.store().UnfinishedWork(ctx, a.offboards)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return nonZero(map[string]int{"onboarding": w.Onboarding, "offboarding": w.Offboarding, "migration": w.Migration}), nil
}

// store reads the control plane.
func (a chaosAudit) store() *controlplane.Store { return controlplane.NewStore(a.cp) }

// waitFinished polls stuck until nothing is unfinished or timeout passed,
// and returns what is left.
func (a chaosAudit) waitFinished(ctx context.Context, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		stuck, err := a.stuck(ctx)
		if err != nil || len(stuck) == 0 || time.Now().After(deadline) {
			return stuck, err
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return stuck, ctx.Err()
		}
	}
}

// run audits everything.
func (a chaosAudit) run(ctx context.Context) (auditResult, error) {
	var res auditResult
	var err error
	if res.Stuck, err = a.stuck(ctx); err != nil {
		return res, err
	}
	all, err := a.store().ListTenants(ctx, controlplane.TenantFilter{})
	if err != nil {
		return res, fmt.Errorf("audit: %w", err)
	}
	for _, t := range all {
		switch t.Status {
		case tenants.TenantActive:
			res.Active++
		case tenants.TenantOffboarded:
			res.Offboarded++
		}
	}
	if res.Lost, err = a.lost(ctx); err != nil {
		return res, err
	}
	if res.Duplicates, err = a.controlPlaneDuplicates(ctx); err != nil {
		return res, err
	}
	if err := a.runStatus(ctx, &res); err != nil {
		return res, err
	}
	if err := a.instances(ctx, all, &res); err != nil {
		return res, err
	}
	res.Duplicates = nonZero(res.Duplicates)
	return res, nil
}

// lost counts acknowledged onboardings whose tenant never became active
// (it is not active, offboarding or offboarded: offboarding starts only
// from active), by what became of their request: failed, unfinished (also
// stuck), done without an active tenant, or missing (no request stored).
func (a chaosAudit) lost(ctx context.Context) (map[string]int, error) {
	list, err := a.store().LostOnboardings(ctx, a.accepted)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lost := map[string]int{}
	for _, l := range list {
		has := func(status string) bool { return slices.Contains(l.RequestStatuses, status) }
		switch {
		case len(l.RequestStatuses) == 0:
			lost["missing"]++
		case has("pending") || has("enqueued"):
			lost["unfinished"]++
		case has("failed"):
			lost["failed"]++
		default:
			lost["done_not_active"]++
		}
	}
	return lost, nil
}

// controlPlaneDuplicates counts second "done" audit rows of one tenant's
// onboarding or offboarding, migration runs beyond the ones asked for, and
// spare shared instances beyond the one created ahead of need (an
// instance no tenant was ever placed on).
func (a chaosAudit) controlPlaneDuplicates(ctx context.Context) (map[string]int, error) {
	d, err := a.store().DuplicateRecords(ctx, controlplane.DuplicateCheck{ProvisionAction: provision.ActionProvision,
		OffboardAction: provision.ActionOffboard, DoneOutcome: audit.OutcomeDone, MigrationRuns: a.runs})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return map[string]int{"provision_done_rows": d.ProvisionDone, "offboard_done_rows": d.OffboardDone,
		"migration_runs": d.MigrationRuns, "spare_instances": d.SpareInstances}, nil
}

// runStatus reads each run's status and counts the tenants runs gave up
// on, but for offboarded ones.
func (a chaosAudit) runStatus(ctx context.Context, res *auditResult) error {
	verdicts, err := a.store().MigrationRunVerdicts(ctx)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, v := range verdicts {
		res.RunStatus = append(res.RunStatus, string(v.Status))
		res.MigrationFailed += v.FailedLive
	}
	return nil
}

// tenantSchema is one schema of a tenant found on an instance database.
type tenantSchema struct {
	database   string
	archived   bool
	markerRows int // -1: no marker table
}

// archivedSchema matches provision.ArchivedSchemaName: archived_<schema>_<yyyymmdd>.
var archivedSchema = regexp.MustCompile(`^archived_(t_[a-z0-9_]+)_[0-9]{8}$`)

// instances looks, for the tenants of the catalog (all), at every database of the fleet's local instances (those
// on the server, whether or not the control plane knows them): a tenant
// with more than one schema (live or archived, anywhere) is a duplicate,
// so is a second marker row; an active tenant must have its live schema
// on its placed database (and, with the marker, one marker row), an
// offboarded one none.
func (a chaosAudit) instances(ctx context.Context, all []controlplane.Tenant, res *auditResult) error {
	bySchema := make(map[string]controlplane.Tenant, len(all))
	for _, t := range all {
		bySchema[tenants.SchemaName(t.ID)] = t
	}
	admin, err := pgx.Connect(ctx, a.adminURL)
	if err != nil {
		return fmt.Errorf("audit: connect to the instances' server: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	dbRows, _ := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1 || '\_inst\_%' ORDER BY 1`, a.fleet)
	databases, err := pgx.CollectRows(dbRows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("audit: list instance databases: %w", err)
	}
	found := map[string][]tenantSchema{} // tenant id -> its schemas
	for _, db := range databases {
		schemas, err := a.schemasIn(ctx, db)
		if err != nil {
			return err
		}
		for name, s := range schemas {
			if m := archivedSchema.FindStringSubmatch(name); m != nil {
				name, s.archived = m[1], true
			}
			if t, ok := bySchema[name]; ok {
				found[t.ID] = append(found[t.ID], s)
			}
		}
	}
	for _, p := range all {
		schemas := found[p.ID]
		res.Duplicates["schemas"] += max(len(schemas)-1, 0)
		var live, placedLive *tenantSchema
		for i, s := range schemas {
			res.Duplicates["marker_rows"] += max(s.markerRows-1, 0)
			if !s.archived {
				live = &schemas[i]
				if s.database == p.Database {
					placedLive = live
				}
			}
		}
		switch p.Status {
		case tenants.TenantActive:
			if placedLive == nil {
				res.Broken++
			} else if a.marker && placedLive.markerRows < 1 {
				res.Unmigrated++
			}
		case tenants.TenantOffboarded:
			if live != nil {
				res.Broken++
			}
		}
	}
	return nil
}

// schemasIn lists the tenant schemas (live t_* and archived_t_*) of one
// database with their marker row counts.
func (a chaosAudit) schemasIn(ctx context.Context, db string) (map[string]tenantSchema, error) {
	conn, err := pgx.Connect(ctx, config.WithDatabase(a.adminURL, db))
	if err != nil {
		return nil, fmt.Errorf("audit: connect to %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, _ := conn.Query(ctx, `SELECT n.nspname, c.oid IS NOT NULL
		FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $1 AND c.relkind = 'r'
		WHERE n.nspname LIKE 't\_%' OR n.nspname LIKE 'archived\_t\_%'`, markerTable)
	type row struct {
		name   string
		marker bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.name, &x.marker)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: schemas of %s: %w", db, err)
	}
	out := make(map[string]tenantSchema, len(list))
	batch := &pgx.Batch{}
	for _, x := range list {
		out[x.name] = tenantSchema{database: db, markerRows: -1}
		if !x.marker {
			continue
		}
		batch.Queue("SELECT count(*) FROM " + pgx.Identifier{x.name, markerTable}.Sanitize()).QueryRow(func(r pgx.Row) error {
			s := out[x.name]
			if err := r.Scan(&s.markerRows); err != nil {
				return err
			}
			out[x.name] = s
			return nil
		})
	}
	if batch.Len() > 0 {
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			return nil, fmt.Errorf("audit: marker rows in %s: %w", db, err)
		}
	}
	return out, nil
}

// nonZero drops the zero counts, so a result lists only what went wrong.
func nonZero(m map[string]int) map[string]int {
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}
