package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

func TestTenantAndInstanceResources(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	catalog := controlplane.NewStore(f.db)
	inst, err := catalog.CreateInstance(ctx, controlplane.Instance{
		Instance: provider.Instance{ID: "shared-1", Status: provider.StatusReady, Host: "127.0.0.1", Port: 5432,
			Database: "tf_shared_1", MaxConnections: 100},
		Provider: "local", Tier: tenants.Shared, MaxTenants: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme-bank", "globex"} {
		f.tenant(t, id, tenants.TenantPending)
	}
	if _, err := catalog.SetTenantPlacement(ctx, "acme-bank", controlplane.Placement{
		InstanceID: inst.ID, Database: inst.Database, Schema: "t_acme_bank", Role: "tf_t_acme_bank",
	}); err != nil {
		t.Fatal(err)
	}

	if a := f.call(t, "GET", "/api/v1/tenants", "", false, nil); a.Status != 401 {
		t.Errorf("list without token: %d, want 401", a.Status)
	}
	a := f.api(t, "GET", "/api/v1/tenants", "")
	var list TenantListJSON
	if err := json.Unmarshal([]byte(a.Raw), &list); a.Status != 200 || err != nil || len(list.Tenants) != 2 {
		t.Fatalf("list: %d with %d tenants (%v), want 200 with 2", a.Status, len(list.Tenants), err)
	}
	if id := a.Header.Get(HeaderRequestID); len(id) != 32 {
		t.Errorf("X-Request-Id %q, want a new 32-character id", id)
	}
	a = f.api(t, "GET", "/api/v1/tenants/acme-bank", "")
	var one TenantJSON
	if err := json.Unmarshal([]byte(a.Raw), &one); a.Status != 200 || err != nil {
		t.Fatalf("get acme-bank: %d %s", a.Status, a.Raw)
	}
	if one.Instance != "shared-1" || one.Schema != "t_acme_bank" || one.Role != "tf_t_acme_bank" || one.Tier != "shared" {
		t.Errorf("get acme-bank = %+v, want placement on shared-1", one)
	}
	for _, c := range []struct {
		path string
		want int
		msg  string
	}{
		{"/api/v1/tenants/nobody-here", 404, "no tenant nobody-here"},
		{"/api/v1/tenants/Bad_ID", 422, "tenants: "},
		{"/api/v1/tenants?status=zombie", 400, "status must be one of"},
		{"/api/v1/tenants?tier=gold", 400, "tier must be"},
	} {
		if a := f.api(t, "GET", c.path, ""); a.Status != c.want || !strings.Contains(a.str("error"), c.msg) {
			t.Errorf("GET %s: %d %s, want %d with %q", c.path, a.Status, a.Raw, c.want, c.msg)
		}
	}
	a = f.call(t, "GET", "/api/v1/tenants?tier=shared&instance=shared-1", "", true, http.Header{HeaderRequestID: {"proxy-id.42"}})
	if err := json.Unmarshal([]byte(a.Raw), &list); a.Status != 200 || err != nil || len(list.Tenants) != 1 || list.Tenants[0].ID != "acme-bank" {
		t.Errorf("filtered list: %d %s, want acme-bank alone", a.Status, a.Raw)
	}
	if got := a.Header.Get(HeaderRequestID); got != "proxy-id.42" {
		t.Errorf("X-Request-Id %q, want the caller's proxy-id.42", got)
	}
	a = f.call(t, "GET", "/api/v1/instances", "", true, http.Header{HeaderRequestID: {"evil\"id with spaces"}})
	var insts InstanceListJSON
	if err := json.Unmarshal([]byte(a.Raw), &insts); a.Status != 200 || err != nil || len(insts.Instances) != 1 {
		t.Fatalf("instances: %d %s, want 200 with 1", a.Status, a.Raw)
	}
	if got := insts.Instances[0]; got.Tenants != 1 || got.MaxTenants != 10 {
		t.Errorf("instance view = %+v, want 1 of 10 tenants", got)
	}
	if got := a.Header.Get(HeaderRequestID); len(got) != 32 || strings.Contains(got, "evil") {
		t.Errorf("X-Request-Id %q, want a new id instead of the caller's unsafe one", got)
	}
}

// TestInternalErrorLoggedNotLeaked: a control plane that fails answers 500
// "internal error" with the request id, and the log (not the answer) has
// the cause under that id; one that cannot be reached answers 503 with
// Retry-After.
func TestInternalErrorLoggedNotLeaked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.traced.Close() // every query of the API's dependencies now fails
	a := f.call(t, "GET", "/api/v1/tenants", "", true, http.Header{HeaderRequestID: {"req-500"}})
	if a.Status != http.StatusInternalServerError || a.str("error") != internalMessage || len(a.Body) != 1 {
		t.Fatalf("closed pool: %d %s, want 500 {\"error\": %q}", a.Status, a.Raw, internalMessage)
	}
	if a.Header.Get(HeaderRequestID) != "req-500" {
		t.Errorf("X-Request-Id %q, want req-500", a.Header.Get(HeaderRequestID))
	}
	var entry map[string]any
	for line := range strings.Lines(f.logs.String()) {
		if strings.Contains(line, "req-500") {
			_ = json.Unmarshal([]byte(line), &entry)
		}
	}
	if entry["level"] != "ERROR" || entry["status"] != float64(500) || entry["route"] != "GET /api/v1/tenants" ||
		!strings.Contains(entry["error"].(string), "closed") {
		t.Errorf("log entry for req-500 = %v, want an ERROR naming the route and the closed pool", entry)
	}

	// An unreachable control plane: 503, retry later, the address only in
	// the log.
	unreachable, err := pgxpoolNewLazy(t, "postgres://fleet:s3cret-password@127.0.0.1:1/fleet?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	logs := &cptest.SyncBuffer{}
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	New(Config{Catalog: controlplane.NewStore(unreachable), Logger: slogJSON(logs)}).Register(srv)
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	down := &fixture{base: "http://" + srv.Addr()}
	a = down.api(t, "GET", "/api/v1/instances", "")
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") != "1" || a.str("error") != unavailableMessage {
		t.Errorf("unreachable control plane: %d %s (Retry-After %q), want 503 retry later", a.Status, a.Raw, a.Header.Get("Retry-After"))
	}
	if strings.Contains(a.Raw, "127.0.0.1") || strings.Contains(a.Raw, "s3cret") {
		t.Errorf("503 answer leaks the control plane's address: %s", a.Raw)
	}
	if got := logs.String(); !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, a.Header.Get(HeaderRequestID)) {
		t.Errorf("log %s: want a WARN under the request id %s", got, a.Header.Get(HeaderRequestID))
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("log leaks the password: %s", logs.String())
	}
}
