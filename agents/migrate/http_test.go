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
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

const testToken = "migrate-test-token-0123456789"

// startAPI serves r's routes of the REST API (infra/restapi: this test
// needs the runner fixtures of this package, so it stays here) on a free
// local port until the test ends and
// returns the base URL.
func startAPI(t *testing.T, r *migrate.Runner) string {
	t.Helper()
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: testToken, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	restapi.New(restapi.Config{Migrations: r, Logger: cptest.DiscardLogger()}).Register(srv)
	if err := srv.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Stop)
	return "http://" + srv.Addr()
}

// apiCall sends an authenticated request with body (none when empty) and
// the header name/value pairs given, and returns the status and body.
func apiCall(t *testing.T, base, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testContext(t), method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestAPIStartsAndReportsARun(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.addInstance(t, "ia", 4, "", "", 0)
	e.startWorker(t, e.runner, 4)
	base := startAPI(t, e.runner)
	callAs := func(contentType, method, path, body string) (int, []byte) {
		t.Helper()
		if body == "" {
			return apiCall(t, base, method, path, body)
		}
		return apiCall(t, base, method, path, body, "Content-Type", contentType)
	}
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		return callAs("application/json", method, path, body)
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
	// Every numeric field is bounded (2^31 overflowed the int4 column with a
	// 500; 2^31-1 disabled the per-instance cap), JSON means one object
	// and nothing after it, and the body must say it is JSON.
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"concurrency 2^31", `{"instance": "ia", "concurrency": 2147483648}`, 422},
		{"concurrency 2^31-1", `{"instance": "ia", "concurrency": 2147483647}`, 422},
		{"concurrency above the max", `{"instance": "ia", "concurrency": 101}`, 422},
		{"concurrency negative", `{"instance": "ia", "concurrency": -1}`, 422},
		{"concurrency beyond int64", `{"instance": "ia", "concurrency": 1e30}`, 400},
		{"concurrency not whole", `{"instance": "ia", "concurrency": 2.5}`, 400},
		{"canary 2^31", `{"instance": "ia", "canary": 2147483648}`, 422},
		{"canary above the max", `{"instance": "ia", "canary": 1001}`, 422},
		{"cpu threshold above 100", `{"instance": "ia", "cpu_threshold": 100.5}`, 422},
		{"cpu threshold negative", `{"instance": "ia", "cpu_threshold": -1}`, 422},
		{"lag threshold above the max", `{"instance": "ia", "lag_threshold": "2h"}`, 422},
		{"lag threshold negative", `{"instance": "ia", "lag_threshold": "-1s"}`, 422},
		{"version beyond the set", `{"instance": "ia", "version": 9223372036854775807}`, 422},
		{"trailing object", `{"instance": "ia"} {"concurrency": 100}`, 400},
		{"trailing garbage", `{"instance": "ia"}garbage`, 400},
		{"not an object", `[{"instance": "ia"}]`, 400},
		{"unknown field", `{"instance": "ia", "concurency": 2}`, 400},
	} {
		code, body := call("POST", "/api/v1/migrations", tc.body)
		if code != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, code, body, tc.want)
		}
		if code == http.StatusUnprocessableEntity && !strings.Contains(string(body), "must be between") &&
			!strings.Contains(string(body), "want above 0") && !strings.Contains(string(body), "not in the migration set") {
			t.Errorf("%s: 422 without the bound in the message: %s", tc.name, body)
		}
	}
	if code, _ := callAs("text/plain", "POST", "/api/v1/migrations", `{"instance": "ia"}`); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: got %d, want 415", code)
	}
	if latest, _ := call("GET", "/api/v1/migrations/latest", ""); latest != http.StatusNotFound {
		t.Fatalf("a refused request started a run: latest answers %d, want 404", latest)
	}
	code, body := call("POST", "/api/v1/migrations", `{"instance": "ia", "concurrency": 2, "lag_threshold": "5s"}`)
	if code != http.StatusAccepted {
		t.Fatalf("start: got %d %s, want 202", code, body)
	}
	var started restapi.MigrationStartedJSON
	if err := json.Unmarshal(body, &started); err != nil || started.ID == 0 {
		t.Fatalf("start response %s: %v", body, err)
	}
	e.wait(t, started.ID)
	code, body = call("GET", started.URL, "")
	if code != http.StatusOK {
		t.Fatalf("get: got %d %s", code, body)
	}
	var st restapi.MigrationRunJSON
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	if st.Status != string(migrate.RunSucceeded) || st.Counts.Succeeded != 4 || len(st.Tenants) != 4 || st.Concurrency != 2 {
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
