package restapi

import (
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Schedule lists the scheduler's periodic entries (*queue.Scheduler, built
// with every entry registered, never started).
type Schedule interface {
	Entries(now time.Time) []queue.EntryInfo
}

// ScheduleJSON answers GET /api/v1/schedule (schema Schedule); `fleet
// schedule list --json` prints its list.
type ScheduleJSON struct {
	Entries []queue.EntryInfo `json:"entries"`
}

// listSchedule serves GET /api/v1/schedule: every periodic entry with its
// next run (UTC).
func (a *API) listSchedule(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, ScheduleJSON{Entries: nonNil(a.cfg.Schedule.Entries(time.Now()))})
}
