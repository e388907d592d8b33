package cost

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Default tier-move thresholds (Config.DedicatedShare, SharedShare).
const (
	DefaultDedicatedShare = 0.3
	DefaultSharedShare    = 0.05
)

// Share kinds of TierEvidence.ShareOf.
const (
	// ShareOfInstanceTime is a shared tenant's part of its instance's
	// statement time in the window (TenantUsage.Share).
	ShareOfInstanceTime = "instance_time"
	// ShareOfInstanceCapacity is a dedicated tenant's statement time over
	// the window's vCPU time of its instance (its part of the time is all
	// of it: it is alone).
	ShareOfInstanceCapacity = "instance_capacity"
)

// TierEvidence is a move_to_dedicated or move_to_shared recommendation's
// evidence.
type TierEvidence struct {
	TenantID   string `json:"tenant_id"`
	InstanceID string `json:"instance_id"`
	Tier       string `json:"tier"`
	Class      string `json:"class"`
	// Share is what was compared with Threshold; ShareOf says of what.
	Share       float64   `json:"share"`
	ShareOf     string    `json:"share_of"`
	Threshold   float64   `json:"threshold"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	WindowS     float64   `json:"window_s"`
	Calls       int64     `json:"calls"`
	ExecMS      float64   `json:"exec_ms"`
	PlanMS      float64   `json:"plan_ms"`
	// TimeMS is ExecMS + PlanMS; LoadVCPUs that over the window.
	TimeMS    float64 `json:"time_ms"`
	LoadVCPUs float64 `json:"load_vcpus"`
	// StorageBytes is priced on both sides.
	StorageBytes int64 `json:"storage_bytes"`
	// CurrentMonthlyUSD is what the tenant costs now: its share of the
	// shared instance, or its whole dedicated instance. TargetMonthlyUSD
	// is the other tier: the cheapest class that fits its load (dedicated),
	// or its time priced as a fraction of a TargetClass instance's vCPU
	// time (shared, the marginal cost: the shared instance's idle capacity
	// is not charged to it), each with its storage.
	CurrentMonthlyUSD float64 `json:"current_monthly_usd"`
	TargetMonthlyUSD  float64 `json:"target_monthly_usd"`
	TargetClass       string  `json:"target_class"`
	Note              string  `json:"note"`
}

// adviceDefaults fills and checks the tier and sizing settings.
func (cfg *Config) adviceDefaults() error {
	cfg.DedicatedShare = cmp.Or(cfg.DedicatedShare, DefaultDedicatedShare)
	cfg.SharedShare = cmp.Or(cfg.SharedShare, DefaultSharedShare)
	cfg.MinWindow = cmp.Or(cfg.MinWindow, DefaultMinWindow)
	var errs []error
	if !(cfg.DedicatedShare > 0 && cfg.DedicatedShare <= 1) || !(cfg.SharedShare > 0 && cfg.SharedShare < 1) {
		errs = append(errs, fmt.Errorf("DedicatedShare (%g) must be above 0 and at most 1, SharedShare (%g) above 0 and below 1",
			cfg.DedicatedShare, cfg.SharedShare))
	}
	if cfg.MinWindow < 0 {
		errs = append(errs, fmt.Errorf("MinWindow must not be negative, got %s", cfg.MinWindow))
	}
	return errors.Join(errs...)
}

// adviseTiers names shared tenants that take more than DedicatedShare of
// their instance's time for a dedicated instance, and dedicated tenants
// that use less than SharedShare of their instance's capacity for a shared
// one, each with the monthly money difference. A shared instance's only
// tenant has no neighbours and is not advised to move; an instance whose
// attribution is incomplete advises no move to shared (missing statements
// would make its tenant look quiet); a window shorter than MinWindow
// advises nothing.
func (a *Analyzer) adviseTiers(rep Report, windows map[string]instanceWindow) ([]controlplane.Recommendation, error) {
	byInst := map[string][]TenantUsage{}
	for _, u := range rep.Tenants {
		byInst[u.InstanceID] = append(byInst[u.InstanceID], u)
	}
	var out []controlplane.Recommendation
	for _, iu := range rep.Instances {
		iw, us := windows[iu.InstanceID], byInst[iu.InstanceID]
		if !a.judgeable(iu, iw) {
			continue
		}
		for _, u := range us {
			ev := TierEvidence{TenantID: u.TenantID, InstanceID: iu.InstanceID, Tier: iu.Tier, Class: iu.Class,
				WindowStart: iu.WindowStart, WindowEnd: iu.WindowEnd, WindowS: iw.span / 1000,
				Calls: u.Calls, ExecMS: u.ExecMS, PlanMS: u.PlanMS, TimeMS: u.ExecMS + u.PlanMS, StorageBytes: u.StorageBytes}
			ev.LoadVCPUs = ev.TimeMS / iw.span
			var kind string
			switch {
			case iu.Tier == string(tenants.Shared) && len(us) > 1 && u.Share > a.cfg.DedicatedShare:
				kind = KindMoveToDedicated
				a.toDedicated(&ev, u)
			case iu.Tier == string(tenants.Dedicated) && len(us) == 1 && iu.Incomplete == "" &&
				ev.LoadVCPUs/float64(iw.class.VCPUs) < a.cfg.SharedShare:
				kind = KindMoveToShared
				a.toShared(&ev, iu, iw)
			default:
				continue
			}
			ev.Note += "; an operator moves the tenant (fleet cost apply does not)"
			raw, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, controlplane.Recommendation{Kind: kind, Key: u.TenantID, Tenants: []string{u.TenantID},
				CostBefore: ev.CurrentMonthlyUSD, CostAfter: ev.TargetMonthlyUSD,
				MonthlySavingUSD: ev.CurrentMonthlyUSD - ev.TargetMonthlyUSD, Evidence: raw})
		}
	}
	return out, nil
}

// toDedicated prices a shared tenant's move: now its share of the shared
// instance (its cost in the report), after the cheapest class that fits
// its own load, each with its storage.
func (a *Analyzer) toDedicated(ev *TierEvidence, u TenantUsage) {
	p := a.cfg.Prices
	ev.Share, ev.ShareOf, ev.Threshold = u.Share, ShareOfInstanceTime, a.cfg.DedicatedShare
	name, c, fits := fitClass(p, ev.LoadVCPUs, nil)
	ev.TargetClass, ev.CurrentMonthlyUSD = name, u.MonthlyUSD
	ev.TargetMonthlyUSD = c.computeMonthlyUSD() + p.storageMonthlyUSD(u.StorageBytes)
	ev.Note = fmt.Sprintf("the tenant ran %.0f%% of instance %s's statement time (above %.0f%%); a dedicated %s isolates it from its neighbours "+
		"and them from it, and %s a month against its share of the shared instance", 100*u.Share, ev.InstanceID,
		100*a.cfg.DedicatedShare, name, moneyText(ev.CurrentMonthlyUSD-ev.TargetMonthlyUSD))
	if !fits {
		ev.Note += fmt.Sprintf("; no class of the price table fits its load at %.0f%%, so the largest is priced", 100*TargetLoad)
	}
}

// toShared prices a dedicated tenant's move: now its dedicated instance,
// after its time as a fraction of a DefaultClass instance's vCPU time (the
// marginal cost) plus its storage.
func (a *Analyzer) toShared(ev *TierEvidence, iu InstanceUsage, iw instanceWindow) {
	p := a.cfg.Prices
	ev.Share, ev.ShareOf, ev.Threshold = ev.LoadVCPUs/float64(iw.class.VCPUs), ShareOfInstanceCapacity, a.cfg.SharedShare
	ev.TargetClass, ev.CurrentMonthlyUSD = p.DefaultClass, iu.MonthlyUSD
	ev.TargetMonthlyUSD = p.Classes[p.DefaultClass].timeMonthlyUSD(perMonth(ev.TimeMS, iw.span)) + p.storageMonthlyUSD(ev.StorageBytes)
	ev.Note = fmt.Sprintf("the tenant used %.1f%% of its dedicated instance's vCPU time (below %.0f%%); moved to a shared %s instance "+
		"(its time at that class's price, its dedicated instance removed) it %s a month", 100*ev.Share, 100*a.cfg.SharedShare,
		p.DefaultClass, moneyText(ev.CurrentMonthlyUSD-ev.TargetMonthlyUSD))
}

// operatorOnly refuses to apply the kinds an operator carries out: tier
// moves and resizes (ErrNotApplicable, a 422 through the API).
func operatorOnly(rec controlplane.Recommendation) error {
	switch rec.Kind {
	case KindMoveToDedicated, KindMoveToShared, KindResize:
		return fmt.Errorf("%w: %d is %s: an operator moves tenants and resizes instances; fleet cost apply does not", ErrNotApplicable, rec.ID, rec.Kind)
	}
	return nil
}
