package dashboard

import (
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// SlotCell is one of the batch slots with its active tenants.
type SlotCell struct {
	Slot    int
	Tenants int
	// Heat is Tenants against the busiest slot, 0 to 100.
	Heat float64
}

type scheduleData struct {
	Entries   []queue.EntryInfo
	HasSched  bool
	Slots     []SlotCell
	Busiest   int
	Active    int
	SlotCount int
}

func (d *Dashboard) schedulePage(r *http.Request) (string, string, any, error) {
	if len(r.URL.Query()) > 0 {
		return "", "", nil, badParam("the schedule page takes no query parameters")
	}
	out := scheduleData{SlotCount: batch.Slots}
	if d.cfg.Schedule != nil {
		out.Entries, out.HasSched = d.cfg.Schedule(time.Now()), true
	}
	ids, err := d.cfg.Store.TenantIDs(r.Context(), tenants.TenantActive)
	if err != nil {
		return "", "", nil, err
	}
	counts := make([]int, batch.Slots)
	for _, id := range ids {
		counts[batch.Slot(id)]++
	}
	for s, n := range counts {
		out.Busiest = max(out.Busiest, n)
		out.Slots = append(out.Slots, SlotCell{Slot: s, Tenants: n})
	}
	for i := range out.Slots {
		out.Slots[i].Heat = percent(out.Slots[i].Tenants, out.Busiest)
	}
	out.Active = len(ids)
	return "schedule", "Schedule", out, nil
}
