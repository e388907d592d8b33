package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Sample is one point of the overview's charts.
type Sample struct {
	// At is when it was taken (Unix seconds in JSON, as uPlot reads it).
	At int64 `json:"at"`
	// Capacity is each instance's fill in percent (tenants against its
	// tenant limit).
	Capacity map[string]float64 `json:"capacity"`
	// Queues is each queue's depth: pending, scheduled and retrying tasks
	// plus the active ones.
	Queues map[string]int `json:"queues"`
	// PoolWaiting is how many callers wait for a connection across every
	// published pool; PoolExhausted how many gave up, since each process
	// started.
	PoolWaiting   int    `json:"pool_waiting"`
	PoolExhausted uint64 `json:"pool_exhausted"`
}

// History keeps the latest samples, at most its capacity: it lives in the
// api process's memory and starts empty when the process restarts.
type History struct {
	mu      sync.Mutex
	max     int
	samples []Sample
}

// NewHistory keeps at most n samples (at least 1).
func NewHistory(n int) *History { return &History{max: max(1, n)} }

// Add appends s, dropping the oldest sample when full.
func (h *History) Add(s Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == h.max {
		h.samples = slices.Delete(h.samples, 0, 1)
	}
	h.samples = append(h.samples, s)
}

// Samples returns a copy of the kept samples, oldest first.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.samples)
}

// HistoryJSON answers GET /overview/history.
type HistoryJSON struct {
	// EverySeconds is the sampling interval.
	EverySeconds float64  `json:"every_seconds"`
	Samples      []Sample `json:"samples"`
}

func (d *Dashboard) serveHistory(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "no query parameters are accepted")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, HistoryJSON{EverySeconds: d.cfg.SampleEvery.Seconds(), Samples: nonNil(d.history.Samples())})
}

// sampleLoop takes a sample now and then every SampleEvery until ctx ends.
func (d *Dashboard) sampleLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.SampleEvery)
	defer tick.Stop()
	for {
		s, err := d.Sample(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "dashboard: sample failed", slog.Any("error", err))
		}
		if err == nil {
			d.history.Add(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sample reads the figures the charts plot now.
func (d *Dashboard) Sample(ctx context.Context) (Sample, error) {
	s := Sample{At: time.Now().Unix(), Capacity: map[string]float64{}, Queues: map[string]int{}}
	insts, err := d.cfg.Store.ListInstances(ctx, controlplane.InstanceFilter{})
	if err != nil {
		return s, err
	}
	counts, err := d.cfg.Store.CountTenants(ctx)
	if err != nil {
		return s, err
	}
	for _, in := range insts {
		s.Capacity[in.ID] = percent(counts[in.ID], in.MaxTenants)
	}
	for _, q := range d.queueDepths() {
		s.Queues[q.Name] = q.Depth()
	}
	pools, _ := d.poolTotals(ctx)
	for _, p := range pools {
		s.PoolWaiting += p.Waiting
		s.PoolExhausted += p.Exhausted
	}
	return s, nil
}
