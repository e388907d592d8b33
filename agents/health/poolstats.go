package health

import (
	"context"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// The published pool statistics are read and validated by
// tenants.ReadStats (bounded, checked; a process whose statistics fail is
// refused as a whole).

// poolInstance is the instance a pool key serves: the shared instance's id,
// or for a dedicated tenant's pool its instance, which has the tenant's id.
func poolInstance(pool string) string {
	_, id, _ := strings.Cut(pool, ":")
	return id
}

// PoolStats reads every process's published pool statistics, checked as
// the pool watch checks them (refused ones are skipped and logged): what
// the dashboard shows as in-flight and waiting callers.
func (a *Agent) PoolStats(ctx context.Context) ([]tenants.ProcessStats, error) {
	out, _, err := a.readStats(ctx, time.Now())
	return out, err
}
