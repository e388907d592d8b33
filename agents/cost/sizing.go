package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Sizing thresholds. An instance's load is its database's statement time
// (execution plus planning, every role's) over the window divided by the
// window: the average number of sessions running a statement, the figure
// RDS Performance Insights calls DB load. Utilization is the load per vCPU
// of the instance's class.
const (
	// ResizeUpLoad: above this utilization an instance is under-sized.
	ResizeUpLoad = 0.75
	// ResizeDownLoad: below this utilization (and below
	// ResizeDownConnections) an instance is over-sized.
	ResizeDownLoad = 0.2
	// TargetLoad: a class fits a load when the load is at most this
	// fraction of its vCPUs. Resizes and moves to dedicated pick the
	// cheapest class of the price table that fits.
	TargetLoad = 0.5
	// ResizeUpConnections: client connections above this fraction of the
	// server's usable max_connections make an instance under-sized.
	ResizeUpConnections = 0.8
	// ResizeDownConnections: from this fraction of max_connections on an
	// instance is never advised smaller.
	ResizeDownConnections = 0.5
)

// DefaultMinWindow is the default Config.MinWindow.
const DefaultMinWindow = time.Hour

// Resize directions (SizingEvidence.Direction).
const (
	ResizeUp   = "up"
	ResizeDown = "down"
)

// SizingEvidence is a resize recommendation's evidence.
type SizingEvidence struct {
	InstanceID  string    `json:"instance_id"`
	Tier        string    `json:"tier"`
	Class       string    `json:"class"`
	VCPUs       int       `json:"vcpus"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	WindowS     float64   `json:"window_s"`
	// ExecPlanMS is the instance database's statement time in the window.
	ExecPlanMS float64 `json:"exec_plan_ms"`
	// LoadVCPUs is ExecPlanMS over the window, Utilization that per vCPU.
	LoadVCPUs   float64 `json:"load_vcpus"`
	Utilization float64 `json:"utilization"`
	// Connections are the server's client backends at the analysis (a
	// snapshot, not the window's peak), MaxConnections its max_connections
	// less the superuser reserve.
	Connections     int     `json:"connections"`
	MaxConnections  int     `json:"max_connections"`
	ConnectionRatio float64 `json:"connection_ratio"`
	// Direction is up (under-sized) or down (over-sized); Reason says which
	// threshold decided it.
	Direction         string  `json:"direction"`
	Reason            string  `json:"reason"`
	TargetClass       string  `json:"target_class"`
	TargetVCPUs       int     `json:"target_vcpus"`
	TargetUtilization float64 `json:"target_utilization"`
	// CurrentMonthlyUSD and TargetMonthlyUSD are the two classes' compute
	// prices a month (storage does not change).
	CurrentMonthlyUSD float64 `json:"current_monthly_usd"`
	TargetMonthlyUSD  float64 `json:"target_monthly_usd"`
	Note              string  `json:"note"`
}

// judgeable reports whether an instance's window is long enough, and
// known, to judge its load by (Config.MinWindow).
func (a *Analyzer) judgeable(iu InstanceUsage, iw instanceWindow) bool {
	return !iu.WindowStart.IsZero() && iw.span > 0 && iw.span >= float64(a.cfg.MinWindow.Milliseconds())
}

// perMonth scales ms of time over a window of span ms to a month.
func perMonth(ms, span float64) float64 { return ms * HoursPerMonth * 3600 * 1000 / span }

// fitClass returns the cheapest class of the price table whose vCPUs fit
// loadVCPUs at TargetLoad (ties: more vCPUs, then the name). When none
// fits, ok is false and the class is the largest (most vCPUs, then the
// cheapest). only, when set, narrows the choice.
func fitClass(p Prices, loadVCPUs float64, only func(Class) bool) (string, Class, bool) {
	best, largest := "", ""
	for _, n := range slices.Sorted(maps.Keys(p.Classes)) { // by name: the first wins a tie
		c := p.Classes[n]
		if only != nil && !only(c) {
			continue
		}
		if l, ok := p.Classes[largest]; !ok || c.VCPUs > l.VCPUs || (c.VCPUs == l.VCPUs && c.HourlyUSD < l.HourlyUSD) {
			largest = n
		}
		if loadVCPUs > TargetLoad*float64(c.VCPUs) {
			continue
		}
		if b, ok := p.Classes[best]; !ok || c.HourlyUSD < b.HourlyUSD || (c.HourlyUSD == b.HourlyUSD && c.VCPUs > b.VCPUs) {
			best = n
		}
	}
	if best != "" {
		return best, p.Classes[best], true
	}
	return largest, p.Classes[largest], false
}

// connectionsSQL counts the server's client backends and its usable
// max_connections (admin session, statistics views only).
const connectionsSQL = `
SELECT (SELECT count(*)::int FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend'),
       pg_catalog.current_setting('max_connections')::int - pg_catalog.current_setting('superuser_reserved_connections')::int`

// adviseSizing flags over- and under-sized instance classes from each
// instance's load over the window and its connections (thresholds above).
// Instances whose window is shorter than MinWindow are not judged; an
// instance whose attribution is incomplete is never advised smaller.
func (a *Analyzer) adviseSizing(ctx context.Context, rep Report, windows map[string]instanceWindow) ([]controlplane.Recommendation, error) {
	var out []controlplane.Recommendation
	for _, iu := range rep.Instances {
		iw := windows[iu.InstanceID]
		if !a.judgeable(iu, iw) {
			continue
		}
		admin, err := a.cfg.Sessions.Admin(ctx, iw.inst)
		if err != nil {
			return nil, fmt.Errorf("cost: instance %s: %w", iu.InstanceID, err)
		}
		ev := SizingEvidence{InstanceID: iu.InstanceID, Tier: iu.Tier, Class: iu.Class, VCPUs: iw.class.VCPUs,
			WindowStart: iu.WindowStart, WindowEnd: iu.WindowEnd, WindowS: iw.span / 1000, ExecPlanMS: iu.ExecPlanMS}
		if err := admin.QueryRow(ctx, connectionsSQL).Scan(&ev.Connections, &ev.MaxConnections); err != nil {
			return nil, fmt.Errorf("cost: instance %s: read connections: %w", iu.InstanceID, err)
		}
		ev.LoadVCPUs = iu.ExecPlanMS / iw.span
		ev.Utilization = ev.LoadVCPUs / float64(iw.class.VCPUs)
		if ev.MaxConnections > 0 {
			ev.ConnectionRatio = float64(ev.Connections) / float64(ev.MaxConnections)
		}
		if !a.sizeUp(&ev) && !a.sizeDown(&ev, iu.Incomplete) {
			continue
		}
		target := a.cfg.Prices.Classes[ev.TargetClass]
		ev.TargetVCPUs = target.VCPUs
		ev.TargetUtilization = ev.LoadVCPUs / float64(target.VCPUs)
		ev.CurrentMonthlyUSD, ev.TargetMonthlyUSD = iw.class.computeMonthlyUSD(), target.computeMonthlyUSD()
		saving := ev.CurrentMonthlyUSD - ev.TargetMonthlyUSD
		ev.Note = fmt.Sprintf("resize %s from %s to %s: %s; %s a month by the price table; an operator resizes the instance",
			ev.Direction, ev.Class, ev.TargetClass, ev.Reason, moneyText(saving))
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, controlplane.Recommendation{Kind: KindResize, Key: iu.InstanceID + ":" + ev.Direction,
			Tenants: tenantsOf(rep, iu.InstanceID), CostBefore: ev.CurrentMonthlyUSD, CostAfter: ev.TargetMonthlyUSD,
			MonthlySavingUSD: saving, Evidence: raw})
	}
	return out, nil
}

// sizeUp decides an under-sized instance and its target: the cheapest
// class that fits the load (for connections alone, with more vCPUs than
// now); false when there is none larger.
func (a *Analyzer) sizeUp(ev *SizingEvidence) bool {
	byLoad, byConns := ev.Utilization > ResizeUpLoad, ev.ConnectionRatio > ResizeUpConnections
	if !byLoad && !byConns {
		return false
	}
	larger := func(c Class) bool { return c.VCPUs > ev.VCPUs }
	name, _, fits := fitClass(a.cfg.Prices, ev.LoadVCPUs, larger)
	if name == "" {
		return false // nothing larger in the price table
	}
	ev.Direction, ev.TargetClass = ResizeUp, name
	switch {
	case byLoad:
		ev.Reason = fmt.Sprintf("load %.2f vCPUs is %.0f%% of %d vCPUs (above %.0f%%)", ev.LoadVCPUs, 100*ev.Utilization, ev.VCPUs, 100*ResizeUpLoad)
	default:
		ev.Reason = fmt.Sprintf("%d of %d connections in use (above %.0f%%)", ev.Connections, ev.MaxConnections, 100*ResizeUpConnections)
	}
	if !fits {
		ev.Reason += fmt.Sprintf("; no class of the price table fits it at %.0f%%, so the largest", 100*TargetLoad)
	}
	return true
}

// sizeDown decides an over-sized instance and its target: the cheapest
// class that fits the load, when it is cheaper than the current one.
func (a *Analyzer) sizeDown(ev *SizingEvidence, incomplete string) bool {
	if incomplete != "" || ev.Utilization >= ResizeDownLoad || ev.ConnectionRatio >= ResizeDownConnections {
		return false
	}
	name, c, fits := fitClass(a.cfg.Prices, ev.LoadVCPUs, nil)
	current := a.cfg.Prices.Classes[ev.Class]
	if !fits || name == ev.Class || c.HourlyUSD >= current.HourlyUSD {
		return false
	}
	ev.Direction, ev.TargetClass = ResizeDown, name
	ev.Reason = fmt.Sprintf("load %.2f vCPUs is %.0f%% of %d vCPUs (below %.0f%%) and %d of %d connections are in use (below %.0f%%)",
		ev.LoadVCPUs, 100*ev.Utilization, ev.VCPUs, 100*ResizeDownLoad, ev.Connections, ev.MaxConnections, 100*ResizeDownConnections)
	return true
}

// tenantsOf returns the ids of the instance's tenants in the report, sorted.
func tenantsOf(rep Report, instanceID string) []string {
	var ids []string
	for _, u := range rep.Tenants {
		if u.InstanceID == instanceID {
			ids = append(ids, u.TenantID)
		}
	}
	slices.Sort(ids)
	return ids
}

// moneyText says a monthly difference in words: saving > 0 saves money.
func moneyText(saving float64) string {
	if saving >= 0 {
		return fmt.Sprintf("saves %.2f USD", saving)
	}
	return fmt.Sprintf("costs %.2f USD more", -saving)
}
