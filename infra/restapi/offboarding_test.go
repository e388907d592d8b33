package restapi

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// finish marks an offboarding done as the provisioning agent would, with
// the tenant offboarded.
func (f *fixture) finish(t *testing.T, id int64, tenantID string) {
	t.Helper()
	tx, err := f.db.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context()) //nolint:errcheck // after commit
	if _, err := controlplane.NewStore(tx).SetTenantStatus(t.Context(), tenantID, tenants.TenantOffboarded, ""); err != nil {
		t.Fatal(err)
	}
	if err := offboard.MarkDoneTx(t.Context(), tx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPOffboardAndPurge(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.tenant(t, "acme", tenants.TenantActive)
	f.tenant(t, "globex", tenants.TenantActive)
	frank := http.Header{HeaderRequestedBy: {"frank"}}
	if a := f.call(t, "POST", "/api/v1/tenants/acme/offboard", "", false, frank); a.Status != http.StatusUnauthorized {
		t.Errorf("without token: %d, want 401", a.Status)
	}
	if got, err := controlplane.NewStore(f.db).GetTenant(t.Context(), "acme"); err != nil || got.Status != tenants.TenantActive {
		t.Fatalf("unauthenticated call changed the tenant: %+v, %v", got, err)
	}
	a := f.call(t, "POST", "/api/v1/tenants/acme/offboard", "", true, frank)
	if a.Status != http.StatusAccepted || a.str("action") != "archive" || a.str("tenant_id") != "acme" {
		t.Fatalf("offboard: %d %v", a.Status, a.Body)
	}
	id := int64(a.Body["request_id"].(float64))
	if a.str("url") != "/api/v1/offboardings/"+strconv.FormatInt(id, 10) {
		t.Errorf("url %v", a.Body["url"])
	}
	if a := f.call(t, "POST", "/api/v1/tenants/acme/offboard", "", true, frank); a.Status != http.StatusAccepted || a.Body["duplicate"] != true {
		t.Errorf("repeat: %d %v, want 202 duplicate", a.Status, a.Body)
	}
	if a := f.api(t, "POST", "/api/v1/tenants/globex/offboard", `{"drop": true}`); a.Status != http.StatusAccepted || a.str("action") != "drop" {
		t.Errorf("drop: %d %v", a.Status, a.Body)
	}
	got := f.api(t, "GET", "/api/v1/offboardings/"+strconv.FormatInt(id, 10), "")
	if got.Status != http.StatusOK || got.str("requested_by") != "bootstrap (frank)" || got.str("status") != "enqueued" {
		t.Errorf("get: %d %v", got.Status, got.Body)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/v1/tenants/nobody/offboard", "", http.StatusNotFound},
		{"POST", "/api/v1/tenants/NOT_A_SLUG/offboard", "", http.StatusUnprocessableEntity},
		{"POST", "/api/v1/tenants/acme/offboard", `{"dorp": true}`, http.StatusBadRequest},
		{"POST", "/api/v1/tenants/acme/offboard", `[]`, http.StatusBadRequest},
		{"POST", "/api/v1/tenants/acme/purge", `{"drop": true}`, http.StatusBadRequest},
		{"POST", "/api/v1/tenants/acme/purge", "", http.StatusConflict}, // still offboarding... archive in flight
		{"GET", "/api/v1/offboardings/0", "", http.StatusBadRequest},
		{"GET", "/api/v1/offboardings/999", "", http.StatusNotFound},
	} {
		if a := f.api(t, c.method, c.path, c.body); a.Status != c.want {
			t.Errorf("%s %s %s: %d %v, want %d", c.method, c.path, c.body, a.Status, a.Body, c.want)
		}
	}
	f.finish(t, id, "acme")
	if a := f.api(t, "POST", "/api/v1/tenants/acme/purge", ""); a.Status != http.StatusAccepted || a.str("action") != "purge" {
		t.Errorf("purge: %d %v", a.Status, a.Body)
	}
	if a := f.api(t, "GET", "/api/v1/offboardings/"+strconv.FormatInt(id, 10), ""); a.str("status") != "done" || a.Body["finished_at"] == nil {
		t.Errorf("finished offboarding: %v, want done with finished_at", a.Body)
	}
}
