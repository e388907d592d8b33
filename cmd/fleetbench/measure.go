package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0..1) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }
func us(d time.Duration) float64 { return round(float64(d) / float64(time.Microsecond)) }

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// printResult writes v as one JSON line, the scenario's last line.
func printResult(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(raw))
	return err
}
