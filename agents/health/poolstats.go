package health

import "strings"

// The published pool statistics are read and validated by
// tenants.ReadStats (bounded, checked; a process whose statistics fail is
// refused as a whole).

// poolInstance is the instance a pool key serves: the shared instance's id,
// or for a dedicated tenant's pool its instance, which has the tenant's id.
func poolInstance(pool string) string {
	_, id, _ := strings.Cut(pool, ":")
	return id
}
