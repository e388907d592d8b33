package provision

import (
	"errors"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// A copy of an onboarding still in flight when the tenant was offboarded
// (its worker died after activating the tenant, before the request was
// done; the tenant, active, was then offboarded) must not re-onboard the
// tenant when it runs again: the offboarding superseded it.
func TestStaleOnboardingDoesNotReonboardAnOffboardedTenant(t *testing.T) {
	crash := false
	e := setup(t, func(c *Config) {
		c.afterStep = func(step string) error {
			if crash && step == StepActivate {
				return errors.New("killed after activate")
			}
			return nil
		}
	})
	e.onboard("warmup", tenants.Shared)
	crash = true
	acc := e.submit("stale-co", tenants.Shared)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc)); err == nil {
		t.Fatal("want the injected failure after activate")
	}
	crash = false
	if got := e.tenantStatus("stale-co"); got != tenants.TenantActive {
		t.Fatalf("status %s after the crash, want active", got)
	}
	e.offboardNow("stale-co", offboard.ActionArchive)

	err := e.agent.HandleOnboard(e.ctx, onboardTask(t, acc))
	if !errors.Is(err, ErrPermanent) {
		t.Fatalf("stale onboarding after the offboarding: %v, want a permanent refusal", err)
	}
	if got := e.tenantStatus("stale-co"); got != tenants.TenantOffboarded {
		t.Fatalf("status %s, want offboarded", got)
	}
	_, _, schemas := e.serverState()
	for db, list := range schemas {
		for _, s := range list {
			if s == "t_stale_co" {
				t.Errorf("database %s has a live schema for the offboarded tenant again (%v)", db, list)
			}
		}
	}
	// A new request re-onboards it, as before.
	again := e.resubmit("stale-co", "Stale Co", tenants.Shared, false)
	if err := e.agent.HandleOnboard(e.ctx, onboardTask(t, again)); err != nil {
		t.Fatalf("re-onboarding with a new request: %v", err)
	}
	if got := e.tenantStatus("stale-co"); got != tenants.TenantActive {
		t.Fatalf("status %s after a new request, want active", got)
	}
}
