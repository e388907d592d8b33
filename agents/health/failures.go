package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// recentRuns is how many of the latest migration runs the failures check
// reads: an older run's failures are history, not a condition.
const recentRuns = 20

// ObserveFailures reports the fleet's failed work to the alert engine,
// level-triggered like every other check: onboarding_failed for each
// tenant whose onboarding failed (subject: the tenant id; it resolves when
// a retry makes the tenant active, or it is offboarded), and
// migration_failed for each recent finished run with failed tenants
// (subject: "run:<id>"; it resolves when a retry of the run succeeds). The
// pool watch runs it every pass; it reads only the control plane.
func (a *Agent) ObserveFailures(ctx context.Context) error {
	var errs []error
	failed, err := a.cfg.Store.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantFailed})
	if err != nil {
		return err
	}
	onboarding := map[string]bool{}
	for _, t := range failed {
		onboarding[t.ID] = true
		c := alerts.Condition{Kind: alerts.OnboardingFailed, Subject: t.ID, Tenant: t.ID, Instance: t.InstanceID,
			Summary: fmt.Sprintf("onboarding of tenant %s failed: %.200s", t.ID, t.StatusReason)}
		if c.Instance == "" {
			c.Tenant = "" // not placed: not a tenant of any instance, never inhibited
		}
		if _, err := a.cfg.Alerts.Observe(ctx, c, true); err != nil {
			errs = append(errs, err)
		}
	}
	runs, err := a.cfg.Store.FailedMigrationRuns(ctx, recentRuns)
	if err != nil {
		return err
	}
	migration := map[string]bool{}
	for _, r := range runs {
		subject := "run:" + strconv.FormatInt(r.RunID, 10)
		migration[subject] = true
		c := alerts.Condition{Kind: alerts.MigrationFailed, Subject: subject,
			Summary: fmt.Sprintf("migration run %d: %d tenants failed", r.RunID, r.Failed),
			Details: map[string]any{"run_id": r.RunID, "failed": r.Failed, "tenants": r.Tenants}}
		if _, err := a.cfg.Alerts.Observe(ctx, c, true); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, a.clearOpen(ctx, alerts.OnboardingFailed, onboarding)...)
	errs = append(errs, a.clearOpen(ctx, alerts.MigrationFailed, migration)...)
	return errors.Join(errs...)
}

// clearOpen resolves the open alerts of kind whose subject is not in
// still.
func (a *Agent) clearOpen(ctx context.Context, kind alerts.Kind, still map[string]bool) []error {
	open, err := a.cfg.Store.ListAlerts(ctx, controlplane.AlertFilter{OpenOnly: true, Kind: string(kind), Limit: maxOpenAlerts})
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, al := range open {
		if !still[al.Subject] {
			if _, err := a.cfg.Alerts.Clear(ctx, kind, al.Subject); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}
