package alerts_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

const testToken = "alerts-test-token-0123456789"

func serve(t *testing.T, e *alerts.Engine) string {
	t.Helper()
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: testToken, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.RegisterRoutes(srv)
	if err := srv.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return "http://" + srv.Addr()
}

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAPI(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	base := serve(t, f.engine)
	fired := mustObserve(t, f.engine, poolDown, true)
	mustObserve(t, f.engine, alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-2"}, true)
	mustObserve(t, f.engine, alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-2"}, false)

	if code, _ := call(t, "GET", base+"/api/v1/alerts", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d, want 401", code)
	}
	code, body := call(t, "GET", base+"/api/v1/alerts", testToken, "")
	var list alerts.ListResponse
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Alerts) != 1 || list.Alerts[0].ID != fired.Alert.ID {
		t.Fatalf("GET /api/v1/alerts: %d %s, want the open alert only", code, body)
	}
	if code, body = call(t, "GET", base+"/api/v1/alerts?status=all&kind=capacity_high", testToken, ""); code != http.StatusOK ||
		json.Unmarshal(body, &list) != nil || len(list.Alerts) != 1 || list.Alerts[0].Status != alerts.StatusResolved {
		t.Fatalf("status=all&kind=capacity_high: %d %s", code, body)
	}
	for _, q := range []string{"status=maybe", "kind=Bad-Kind", "kind=x%27%3BDROP", "limit=0", "limit=100000", "subject=a%20b"} {
		if code, _ := call(t, "GET", base+"/api/v1/alerts?"+q, testToken, ""); code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
	code, body = call(t, "POST", base+"/api/v1/alerts/"+itoa(fired.Alert.ID)+"/ack", testToken, `{"by":"alice"}`)
	var acked alerts.Alert
	if code != http.StatusOK || json.Unmarshal(body, &acked) != nil || acked.AckedBy != "alice" {
		t.Fatalf("ack: %d %s", code, body)
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/alerts/999999/ack", "", http.StatusNotFound},
		{"/api/v1/alerts/-1/ack", "", http.StatusBadRequest},
		{"/api/v1/alerts/" + itoa(fired.Alert.ID) + "/ack", `{"by":"a","admin":true}`, http.StatusBadRequest},
		{"/api/v1/silences", `{"subject":"inst-1","duration":"forever"}`, http.StatusUnprocessableEntity},
		{"/api/v1/silences", `{"subject":"inst 1","duration":"1h"}`, http.StatusUnprocessableEntity},
		{"/api/v1/silences", `[]`, http.StatusBadRequest},
	} {
		if code, body := call(t, "POST", base+tc.path, testToken, tc.body); code != tc.want {
			t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, code, body, tc.want)
		}
	}
	code, body = call(t, "POST", base+"/api/v1/silences", testToken, `{"subject":"inst-1","kind":"pool_exhausted","duration":"2h","reason":"load test"}`)
	var s alerts.Silence
	if code != http.StatusCreated || json.Unmarshal(body, &s) != nil || s.Subject != "inst-1" || s.EndsAt.Sub(s.CreatedAt).Hours() != 2 {
		t.Fatalf("silence: %d %s", code, body)
	}
	code, body = call(t, "GET", base+"/api/v1/silences", testToken, "")
	var silences alerts.SilencesResponse
	if code != http.StatusOK || json.Unmarshal(body, &silences) != nil || len(silences.Silences) != 1 {
		t.Fatalf("GET silences: %d %s", code, body)
	}
	if code, _ := call(t, "GET", base+"/api/v1/alerts/"+itoa(fired.Alert.ID), testToken, ""); code != http.StatusOK {
		t.Fatalf("GET one alert: %d", code)
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
