package batch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// 10,000 random tenant ids spread over the 30 slots within ±15% of even.
// The ids come from a fixed seed: with fresh ids each run, even a perfectly
// uniform hash puts some slot outside ±15% about one run in seven (a slot's
// count has a standard deviation of 18, 5.4% of 333, and ±15% is 2.8
// deviations, for each of 30 slots; 147 of 1,000 seeds fail), which would
// make the test flaky rather than stricter. The chi-square check (29
// degrees of freedom, below 58.3: p > 0.001) asks for uniformity, not just
// the bound. Sequential ids (tenant-00000…) are only logged: FNV-1a mod 30
// spreads them worse (worst slot 23% off, chi-square 200; see
// docs/scheduler.md).
func TestSlotSpreadsIDsEvenly(t *testing.T) {
	t.Parallel()
	const n = 10000
	rng := rand.New(rand.NewPCG(2026, 12))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
	random := make([]string, n)
	for i := range random {
		b := []byte{alphabet[rng.IntN(26)]}
		for range 2 + rng.IntN(20) {
			b = append(b, alphabet[rng.IntN(len(alphabet)-1)]) // no '-' at the end
		}
		random[i] = string(b)
	}
	sequential := make([]string, n)
	for i := range sequential {
		sequential[i] = fmt.Sprintf("tenant-%05d", i)
	}
	for name, ids := range map[string][]string{"random": random, "sequential": sequential} {
		report := t.Errorf
		if name == "sequential" {
			report = t.Logf
		}
		var counts [Slots]int
		for _, id := range ids {
			s := Slot(id)
			if s < 0 || s >= Slots {
				t.Fatalf("Slot(%q) = %d, outside [0, %d)", id, s, Slots)
			}
			counts[s]++
		}
		even := float64(n) / Slots
		chi2 := 0.0
		for s, c := range counts {
			dev := (float64(c) - even) / even
			if dev < -0.15 || dev > 0.15 {
				report("%s ids: slot %d holds %d, %.1f%% off the even %.0f (allowed ±15%%)", name, s, c, 100*dev, even)
			}
			chi2 += (float64(c) - even) * (float64(c) - even) / even
		}
		if chi2 >= 58.3 {
			report("%s ids: chi-square %.1f over 30 slots, want below 58.3 (p > 0.001)", name, chi2)
		}
		t.Logf("%s ids: counts %v, chi-square %.1f", name, counts, chi2)
	}
}

// The slot is FNV-1a-32 of the id modulo 30, as documented: the published
// test vectors of FNV-1a-32 pin it.
func TestSlotIsFNV1a32Mod30(t *testing.T) {
	t.Parallel()
	for id, hash := range map[string]uint32{"a": 0xe40c292c, "foobar": 0xbf9cf968} {
		if got, want := Slot(id), int(hash%Slots); got != want {
			t.Errorf("Slot(%q) = %d, want FNV-1a-32 %#x mod 30 = %d", id, got, hash, want)
		}
	}
}

func TestTimingRunsAtSlotOffsets(t *testing.T) {
	t.Parallel()
	hourly, err := DefaultTiming.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	id := "acme-bank"
	slot := Slot(id)
	at := time.Date(2026, 3, 29, 1, 59, 0, 0, time.UTC) // a DST change in Europe: irrelevant in UTC
	ps := hourly.PeriodStart(at)
	if want := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC); !ps.Equal(want) {
		t.Fatalf("PeriodStart = %s, want %s", ps, want)
	}
	if got, want := hourly.RunAt(id, ps), ps.Add(time.Duration(slot)*time.Minute); !got.Equal(want) {
		t.Fatalf("RunAt = %s, want minute %d: %s", got, slot, want)
	}
	// An hourly job runs at minute slot: the next run after the period's
	// last minute is in the next hour.
	if got, want := hourly.NextRun(id, at), ps.Add(time.Hour+time.Duration(slot)*time.Minute); !got.Equal(want) {
		t.Errorf("NextRun(%s) = %s, want %s", at, got, want)
	}
	// At its run time exactly, the next run is a period later.
	run := hourly.RunAt(id, ps)
	if got := hourly.NextRun(id, run); !got.Equal(run.Add(time.Hour)) {
		t.Errorf("NextRun(run) = %s, want %s", got, run.Add(time.Hour))
	}
	// (from, to] spanning two periods holds both runs, and only those.
	runs := hourly.runsBetween(id, ps.Add(-time.Nanosecond), ps.Add(time.Hour+30*time.Minute))
	if len(runs) != 2 || !runs[0].Equal(run) || !runs[1].Equal(run.Add(time.Hour)) {
		t.Errorf("runsBetween over 90 minutes = %v, want [%s %s]", runs, run, run.Add(time.Hour))
	}
	if runs := hourly.runsBetween(id, run, run.Add(59*time.Minute)); len(runs) != 0 {
		t.Errorf("runsBetween(run, run+59m) = %v, want none (the bound is exclusive at from)", runs)
	}

	daily, err := Timing{Period: 24 * time.Hour, Window: 6 * time.Hour}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := daily.RunAt(id, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(slot)*12*time.Minute); !got.Equal(want) {
		t.Errorf("daily RunAt = %s, want slot × 12m past midnight = %s", got, want)
	}
}

func TestTimingRejectsUnusableValues(t *testing.T) {
	t.Parallel()
	for _, bad := range []Timing{
		{Period: 500 * time.Millisecond, Window: 30 * time.Second},
		{Period: time.Minute, Window: 29 * time.Second}, // a slot under 1s
		{Period: time.Minute, Window: 2 * time.Minute},  // window past the period
		{Period: -time.Hour, Window: 30 * time.Second},  // negative
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrBadTiming) {
			t.Errorf("Timing %+v: err %v, want ErrBadTiming", bad, err)
		}
	}
	// The smallest timing: one second per slot.
	if got, err := (Timing{Period: 30 * time.Second, Window: 30 * time.Second}).withDefaults(); err != nil || got.SlotLength() != time.Second {
		t.Errorf("30s/30s: %+v %v, want slots of 1s", got, err)
	}
}
