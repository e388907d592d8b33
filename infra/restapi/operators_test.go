package restapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// bearer is an Authorization header with tok.
func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestUsersAndTokensAPI: the bootstrap operator creates users and tokens;
// a named operator token acts as itself and is audited so; a viewer can
// neither read nor change users and tokens; revoking a token ends it.
func TestUsersAndTokensAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if a := f.api(t, "POST", "/api/v1/users", `{"name":"alice","role":"operator","password":"alice's long password"}`); a.Status != http.StatusCreated ||
		a.str("name") != "alice" || a.str("role") != "operator" || strings.Contains(a.Raw, "password") {
		t.Fatalf("add alice: %d %s", a.Status, a.Raw)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"name":"alice","role":"viewer","password":"another long password"}`, http.StatusConflict},
		{`{"name":"bad name","role":"viewer","password":"another long password"}`, http.StatusUnprocessableEntity},
		{`{"name":"bob","role":"root","password":"another long password"}`, http.StatusUnprocessableEntity},
		{`{"name":"bob","role":"viewer","password":"short"}`, http.StatusUnprocessableEntity},
		{`{"name":"bob","role":"viewer","password":"another long password","admin":true}`, http.StatusBadRequest},
	} {
		if a := f.api(t, "POST", "/api/v1/users", tc.body); a.Status != tc.want {
			t.Errorf("POST users %s: %d %s, want %d", tc.body, a.Status, a.Raw, tc.want)
		}
	}
	created := func(name, role string) string {
		t.Helper()
		a := f.api(t, "POST", "/api/v1/tokens", `{"name":"`+name+`","role":"`+role+`"}`)
		if a.Status != http.StatusCreated || !strings.HasPrefix(a.str("token"), "tft_") || a.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create token %s: %d %s", name, a.Status, a.Raw)
		}
		return a.str("token")
	}
	ci, ro := created("ci", "operator"), created("ro", "viewer")
	if a := f.api(t, "POST", "/api/v1/tokens", `{"name":"ci","role":"viewer"}`); a.Status != http.StatusConflict {
		t.Errorf("second ci: %d, want 409", a.Status)
	}

	// The viewer token: every users/tokens route is 403, reads included.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/users", ""}, {"GET", "/api/v1/tokens", ""},
		{"POST", "/api/v1/users", `{"name":"eve","role":"operator","password":"eve's long password"}`},
		{"POST", "/api/v1/tokens", `{"name":"eve","role":"operator"}`},
		{"DELETE", "/api/v1/tokens/ci", ""}, {"POST", "/api/v1/users/alice/disable", ""},
	} {
		if a := f.call(t, r.method, r.path, r.body, false, bearer(ro)); a.Status != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d %s, want 403", r.method, r.path, a.Status, a.Raw)
		}
	}
	// The viewer still reads the fleet.
	if a := f.call(t, "GET", "/api/v1/alerts", "", false, bearer(ro)); a.Status != http.StatusOK {
		t.Errorf("viewer GET alerts: %d", a.Status)
	}

	// The operator token acts, audited as token:ci.
	if a := f.call(t, "POST", "/api/v1/users", `{"name":"bob","role":"viewer","password":"bob's long password"}`, false, bearer(ci)); a.Status != http.StatusCreated {
		t.Fatalf("ci adds bob: %d %s", a.Status, a.Raw)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'token:ci' AND action = 'user.add' AND details->>'user' = 'bob'`); n != 1 {
		t.Errorf("bob's creation audited as token:ci: %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'bootstrap' AND action IN ('user.add', 'token.create')`); n != 3 {
		t.Errorf("bootstrap's creations audited: %d, want 3", n)
	}
	var users UserListJSON
	if a := f.api(t, "GET", "/api/v1/users", ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &users) != nil ||
		len(users.Users) != 2 || users.Users[1].Name != "bob" || users.Users[1].Role != "viewer" {
		t.Fatalf("GET users: %d %s", a.Status, a.Raw)
	}
	var tokens TokenListJSON
	if a := f.api(t, "GET", "/api/v1/tokens", ""); a.Status != http.StatusOK || json.Unmarshal([]byte(a.Raw), &tokens) != nil ||
		len(tokens.Tokens) != 2 || tokens.Tokens[0].LastUsedAt == nil || strings.Contains(a.Raw, "tft_") {
		t.Fatalf("GET tokens: %d %s (want both, ci used, no values)", a.Status, a.Raw)
	}

	if a := f.api(t, "DELETE", "/api/v1/tokens/ro", ""); a.Status != http.StatusNoContent {
		t.Fatalf("revoke ro: %d %s", a.Status, a.Raw)
	}
	if a := f.call(t, "GET", "/api/v1/alerts", "", false, bearer(ro)); a.Status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", a.Status)
	}
	if a := f.api(t, "DELETE", "/api/v1/tokens/nope", ""); a.Status != http.StatusNotFound {
		t.Errorf("revoke unknown: %d, want 404", a.Status)
	}
	if a := f.api(t, "POST", "/api/v1/users/bob/disable", ""); a.Status != http.StatusNoContent {
		t.Errorf("disable bob: %d %s", a.Status, a.Raw)
	}
	if a := f.api(t, "POST", "/api/v1/users/nobody/disable", ""); a.Status != http.StatusNotFound {
		t.Errorf("disable nobody: %d, want 404", a.Status)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'bootstrap' AND action IN ('token.revoke', 'user.disable')`); n != 2 {
		t.Errorf("revoke and disable audited: %d, want 2", n)
	}
}

// TestActionsAuditedAsThePrincipal: an action from a browser session
// (with its CSRF token) is recorded, in the agent's own record and in
// the audit log, as user:NAME, with the name the request claims after
// it; the claimed name alone is never the actor.
func TestActionsAuditedAsThePrincipal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if a := f.api(t, "POST", "/api/v1/users", `{"name":"alice","role":"operator","password":"alice's long password"}`); a.Status != http.StatusCreated {
		t.Fatal(a.Raw)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"user": {"alice"}, "password": {"alice's long password"}}
	resp, err := client.PostForm(f.base+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie, csrf string
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "fleet_session":
			cookie = c.Name + "=" + c.Value
		case "XSRF-TOKEN":
			csrf = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" || csrf == "" {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	session := http.Header{"Cookie": {cookie}, "X-Csrf-Token": {csrf}, "Sec-Fetch-Site": {"same-origin"}}
	a := f.call(t, "POST", "/api/v1/silences", `{"subject":"inst-1","duration":"1h","by":"bob"}`, false, session)
	if a.Status != http.StatusCreated || a.str("created_by") != "user:alice (bob)" {
		t.Fatalf("silence from alice's session: %d %s, want created_by user:alice (bob)", a.Status, a.Raw)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'user:alice (bob)' AND action = 'alert.silence'`); n != 1 {
		t.Errorf("silence audited as user:alice (bob): %d, want 1", n)
	}
	f.tenant(t, "acme", "active")
	a = f.call(t, "POST", "/api/v1/tenants/acme/offboard", "", false, session)
	if a.Status != http.StatusAccepted {
		t.Fatalf("offboard from alice's session: %d %s", a.Status, a.Raw)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'user:alice' AND tenant_id = 'acme'`); n != 1 {
		t.Errorf("offboarding audited as user:alice: %d, want 1", n)
	}
	// Without the CSRF token the same session changes nothing.
	delete(session, "X-Csrf-Token")
	if a := f.call(t, "POST", "/api/v1/silences", `{"subject":"inst-2","duration":"1h"}`, false, session); a.Status != http.StatusForbidden {
		t.Errorf("silence without the CSRF token: %d, want 403", a.Status)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE action = 'alert.silence'`); n != 1 {
		t.Errorf("silences audited: %d, want only the first", n)
	}
}
