package restapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

const token = "restapi-test-token-123"

func setup(t *testing.T) (base string, catalog *controlplane.Store) {
	t.Helper()
	_, db := cptest.Database(t)
	catalog = controlplane.NewStore(db)
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	New(catalog).Register(srv)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return "http://" + srv.Addr(), catalog
}

func call(t *testing.T, url string, auth bool, into any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func TestTenantAndInstanceResources(t *testing.T) {
	t.Parallel()
	base, catalog := setup(t)
	ctx := context.Background()
	inst, err := catalog.CreateInstance(ctx, controlplane.Instance{Instance: provider.Instance{ID: "shared-1", Status: provider.StatusReady, Host: "127.0.0.1", Port: 5432, Database: "tf_shared_1", MaxConnections: 100}, Provider: "local", Tier: tenants.Shared, MaxTenants: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme-bank", "globex"} {
		if _, err := catalog.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: id, Tier: tenants.Shared, Status: tenants.TenantPending}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := catalog.SetTenantPlacement(ctx, "acme-bank", controlplane.Placement{
		InstanceID: inst.ID, Database: inst.Database, Schema: "t_acme_bank", Role: "tf_t_acme_bank",
	}); err != nil {
		t.Fatal(err)
	}

	if code := call(t, base+"/api/v1/tenants", false, nil); code != 401 {
		t.Errorf("list without token: %d, want 401", code)
	}
	var list struct{ Tenants []TenantJSON }
	if code := call(t, base+"/api/v1/tenants", true, &list); code != 200 || len(list.Tenants) != 2 {
		t.Fatalf("list: %d with %d tenants, want 200 with 2", code, len(list.Tenants))
	}
	var one TenantJSON
	if code := call(t, base+"/api/v1/tenants/acme-bank", true, &one); code != 200 {
		t.Fatalf("get acme-bank: %d", code)
	}
	if one.Instance != "shared-1" || one.Schema != "t_acme_bank" || one.Role != "tf_t_acme_bank" || one.Tier != "shared" {
		t.Errorf("get acme-bank = %+v, want placement on shared-1", one)
	}
	if code := call(t, base+"/api/v1/tenants/nobody-here", true, nil); code != 404 {
		t.Errorf("unknown tenant: %d, want 404", code)
	}
	if code := call(t, base+"/api/v1/tenants/Bad_ID", true, nil); code != 422 {
		t.Errorf("invalid id: %d, want 422", code)
	}
	if code := call(t, base+"/api/v1/tenants?status=zombie", true, nil); code != 400 {
		t.Errorf("bad filter: %d, want 400", code)
	}
	var insts struct{ Instances []InstanceJSON }
	if code := call(t, base+"/api/v1/instances", true, &insts); code != 200 || len(insts.Instances) != 1 {
		t.Fatalf("instances: %d with %d, want 200 with 1", code, len(insts.Instances))
	}
	if got := insts.Instances[0]; got.Tenants != 1 || got.MaxTenants != 10 {
		t.Errorf("instance view = %+v, want 1 of 10 tenants", got)
	}
}
