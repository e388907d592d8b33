package restapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// TestAlertsAPI: list (open by default, filtered), one alert, acknowledge,
// silences; refused input answers 400/404/422 and runs no SQL.
func TestAlertsAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	observe := func(c alerts.Condition, active bool) alerts.Outcome {
		t.Helper()
		out, err := f.alerts.Observe(t.Context(), c, active)
		if err != nil {
			t.Fatalf("Observe(%s %s, %v): %v", c.Kind, c.Subject, active, err)
		}
		return out
	}
	fired := observe(alerts.Condition{Kind: alerts.PoolExhausted, Subject: "inst-1", Instance: "inst-1",
		Summary: "pool inst-1: 12 waiters, 20/20 held"}, true)
	observe(alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-2"}, true)
	observe(alerts.Condition{Kind: alerts.CapacityHigh, Subject: "inst-2"}, false)
	firedID := strconv.FormatInt(fired.Alert.ID, 10)

	if a := f.call(t, "GET", "/api/v1/alerts", "", false, nil); a.Status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d, want 401", a.Status)
	}
	var list AlertListJSON
	if a := f.api(t, "GET", "/api/v1/alerts", ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &list) != nil ||
		len(list.Alerts) != 1 || list.Alerts[0].ID != fired.Alert.ID {
		t.Fatalf("GET /api/v1/alerts: %d %s, want the open alert only", a.Status, a.Raw)
	}
	if a := f.api(t, "GET", "/api/v1/alerts?status=all&kind=capacity_high", ""); a.Status != http.StatusOK ||
		json.Unmarshal([]byte(a.Raw), &list) != nil || len(list.Alerts) != 1 || list.Alerts[0].Status != alerts.StatusResolved {
		t.Fatalf("status=all&kind=capacity_high: %d %s", a.Status, a.Raw)
	}
	before := f.touched.Count()
	for _, q := range []string{"status=maybe", "kind=Bad-Kind", "kind=x%27%3BDROP", "limit=0", "limit=100000", "subject=a%20b"} {
		if a := f.api(t, "GET", "/api/v1/alerts?"+q, ""); a.Status != http.StatusBadRequest {
			t.Errorf("?%s: %d %s, want 400", q, a.Status, a.Raw)
		}
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/alerts/-1/ack", "", http.StatusBadRequest},
		{"/api/v1/alerts/" + firedID + "/ack", `{"by":"a","admin":true}`, http.StatusBadRequest},
		{"/api/v1/silences", `{"subject":"inst-1","duration":"forever"}`, http.StatusUnprocessableEntity},
		{"/api/v1/silences", `{"subject":"inst 1","duration":"1h"}`, http.StatusUnprocessableEntity},
		{"/api/v1/silences", `[]`, http.StatusBadRequest},
	} {
		if a := f.api(t, "POST", tc.path, tc.body); a.Status != tc.want {
			t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, a.Status, a.Raw, tc.want)
		}
	}
	if n := f.touched.Count() - before; n != 0 {
		t.Errorf("refused requests ran %d statements, want 0", n)
	}
	if a := f.api(t, "POST", "/api/v1/alerts/999999/ack", ""); a.Status != http.StatusNotFound {
		t.Errorf("ack of an unknown alert: %d %s, want 404", a.Status, a.Raw)
	}
	if a := f.api(t, "GET", "/api/v1/alerts/999999", ""); a.Status != http.StatusNotFound {
		t.Errorf("GET of an unknown alert: %d %s, want 404", a.Status, a.Raw)
	}
	var acked alerts.Alert
	if a := f.api(t, "POST", "/api/v1/alerts/"+firedID+"/ack", `{"by":"alice"}`); a.Status != http.StatusOK ||
		json.Unmarshal([]byte(a.Raw), &acked) != nil || acked.AckedBy != "bootstrap (alice)" {
		t.Fatalf("ack: %d %s", a.Status, a.Raw)
	}
	var s alerts.Silence
	if a := f.api(t, "POST", "/api/v1/silences", `{"subject":"inst-1","kind":"pool_exhausted","duration":"2h","reason":"load test"}`); a.Status != http.StatusCreated ||
		json.Unmarshal([]byte(a.Raw), &s) != nil || s.Subject != "inst-1" || s.EndsAt.Sub(s.CreatedAt).Hours() != 2 {
		t.Fatalf("silence: %d %s", a.Status, a.Raw)
	}
	var silences SilenceListJSON
	if a := f.api(t, "GET", "/api/v1/silences", ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &silences) != nil ||
		len(silences.Silences) != 1 || silences.Silences[0].ID != s.ID {
		t.Fatalf("GET silences: %d %s", a.Status, a.Raw)
	}
	var one alerts.Alert
	if a := f.api(t, "GET", "/api/v1/alerts/"+firedID, ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &one) != nil ||
		one.ID != fired.Alert.ID || one.AckedBy != "bootstrap (alice)" {
		t.Fatalf("GET one alert: %d %s", a.Status, a.Raw)
	}
}
