package migrate_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

const testToken = "migrate-test-token-0123456789"

func TestAPIStartsAndReportsARun(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.addInstance(t, "ia", 4, "", "", 0)
	e.startWorker(t, e.runner, 4)
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: testToken, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	e.runner.RegisterRoutes(srv)
	if err := srv.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Stop)
	base := "http://" + srv.Addr()
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(testContext(t), method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}

	if code, _ := call("POST", "/api/v1/migrations", `{"concurrency": 0, "lag_threshold": "soon"}`); code != http.StatusBadRequest {
		t.Errorf("bad lag threshold: got %d, want 400", code)
	}
	if code, _ := call("POST", "/api/v1/migrations", `{"tenants": ["`+strings.Repeat("a", 2<<20)+`"]}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: got %d, want 413", code)
	}
	if code, _ := call("POST", "/api/v1/migrations", `{"tenants": ["nobody-here"]}`); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown tenant: got %d, want 422", code)
	}
	code, body := call("POST", "/api/v1/migrations", `{"instance": "ia", "concurrency": 2, "lag_threshold": "5s"}`)
	if code != http.StatusAccepted {
		t.Fatalf("start: got %d %s, want 202", code, body)
	}
	var started migrate.StartResponse
	if err := json.Unmarshal(body, &started); err != nil || started.ID == 0 {
		t.Fatalf("start response %s: %v", body, err)
	}
	e.wait(t, started.ID)
	code, body = call("GET", started.URL, "")
	if code != http.StatusOK {
		t.Fatalf("get: got %d %s", code, body)
	}
	var st migrate.RunStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	if st.Status != migrate.RunSucceeded || st.Counts.Succeeded != 4 || len(st.Tenants) != 4 || st.Concurrency != 2 {
		t.Errorf("status: got %s %+v, %d tenants, concurrency %d; want succeeded, 4 tenants, 2", st.Status, st.Counts, len(st.Tenants), st.Concurrency)
	}
	if code, _ := call("GET", "/api/v1/migrations/latest", ""); code != http.StatusOK {
		t.Errorf("latest: got %d, want 200", code)
	}
	if code, _ := call("GET", "/api/v1/migrations/424242", ""); code != http.StatusNotFound {
		t.Errorf("unknown run: got %d, want 404", code)
	}
	if code, body := call("POST", started.URL+"/retry", ""); code != http.StatusAccepted || !strings.Contains(string(body), `"retried":0`) {
		t.Errorf("retry: got %d %s, want 202 with nothing retried", code, body)
	}
}
