package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// Slots is the number of stagger slots: a tenant's slot is in [0, Slots).
const Slots = 30

// Slot is the tenant's stagger slot: the 32-bit FNV-1a hash (offset basis
// 2166136261, prime 16777619, over the id's bytes) of the tenant id,
// modulo Slots. It depends on the id alone, so every scheduler and every
// CLI computes the same slot.
func Slot(tenantID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenantID))
	return int(h.Sum32() % Slots)
}

// Timing is when a job kind runs: once per Period, each tenant at its
// slot's offset within the first Window of the period.
type Timing struct {
	// Period is how often the kind runs for each tenant, aligned to UTC
	// (periods start at multiples of Period since the zero time, so at UTC
	// midnight for any Period dividing a day). Default 1h.
	Period time.Duration `json:"period"`
	// Window is the stretch at the start of each period over which the
	// tenants' runs are spread: slot s runs at s × Window/Slots. Default
	// 30m (an hourly job runs at minute s). At least Slots seconds (one
	// second per slot) and at most Period.
	Window time.Duration `json:"window"`
}

// DefaultTiming is an hourly job spread over the first 30 minutes.
var DefaultTiming = Timing{Period: time.Hour, Window: 30 * time.Minute}

// ErrBadTiming marks an unusable Timing.
var ErrBadTiming = errors.New("batch: bad timing")

// withDefaults fills zero fields from DefaultTiming and validates.
func (t Timing) withDefaults() (Timing, error) {
	if t.Period == 0 {
		t.Period = DefaultTiming.Period
	}
	if t.Window == 0 {
		t.Window = min(DefaultTiming.Window, t.Period)
	}
	switch {
	case t.Period < time.Second:
		return t, fmt.Errorf("%w: period %s is under 1s", ErrBadTiming, t.Period)
	case t.Window < Slots*time.Second:
		return t, fmt.Errorf("%w: window %s gives a slot under 1s (at least %s)", ErrBadTiming, t.Window, Slots*time.Second)
	case t.Window > t.Period:
		return t, fmt.Errorf("%w: window %s is longer than the period %s", ErrBadTiming, t.Window, t.Period)
	}
	return t, nil
}

// SlotLength is the time between two consecutive slots.
func (t Timing) SlotLength() time.Duration { return t.Window / Slots }

// PeriodStart is the start of the period holding at (UTC).
func (t Timing) PeriodStart(at time.Time) time.Time { return at.UTC().Truncate(t.Period) }

// RunAt is the tenant's run time in the period starting at periodStart.
func (t Timing) RunAt(tenantID string, periodStart time.Time) time.Time {
	return periodStart.Add(time.Duration(Slot(tenantID)) * t.SlotLength())
}

// NextRun is the tenant's first run time after at.
func (t Timing) NextRun(tenantID string, at time.Time) time.Time {
	run := t.RunAt(tenantID, t.PeriodStart(at))
	if !run.After(at) {
		run = run.Add(t.Period)
	}
	return run
}

// runsBetween returns the tenant's run times in (from, to].
func (t Timing) runsBetween(tenantID string, from, to time.Time) []time.Time {
	var out []time.Time
	for ps := t.PeriodStart(from); !ps.After(to); ps = ps.Add(t.Period) {
		if run := t.RunAt(tenantID, ps); run.After(from) && !run.After(to) {
			out = append(out, run)
		}
	}
	return out
}
