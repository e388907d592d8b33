package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// loginFleet is a server with the login (a real operators.Service over a
// scratch control plane), the real Asynqmon on a leased Redis database,
// an API route and dashboard-like pages; users alice (operator) and victor
// (viewer).
type loginFleet struct {
	srv  *Server
	base string
	ops  *operators.Service
	db   *pgxpool.Pool
	rdb  *redis.Client
}

const (
	alicePass  = "alice's long password"
	victorPass = "victor's long password"
)

func newLoginServer(t *testing.T, opCfg operators.Config, cfg Config) *Server {
	t.Helper()
	cfg.Addr, cfg.Token = "127.0.0.1:0", testToken
	if cfg.Logger == nil {
		cfg.Logger = cptest.DiscardLogger()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	whoami := func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		WriteJSON(w, http.StatusOK, map[string]string{"actor": p.Actor(), "csrf": auth.CSRFTokenFrom(r.Context())})
	}
	s.HandleAPI("GET /api/v1/whoami", http.HandlerFunc(whoami))
	s.HandleAPI("POST /api/v1/echo", http.HandlerFunc(whoami))
	s.HandlePage("GET /dash", http.HandlerFunc(whoami))
	s.HandlePage("POST /dash/act", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		WriteJSON(w, http.StatusOK, map[string]string{"acted": p.Actor(), "field": r.PostFormValue("thing")})
	}))
	return s
}

func startLoginFleet(t *testing.T, opCfg operators.Config) *loginFleet {
	t.Helper()
	_, db := cptest.Database(t)
	opCfg.Store = controlplane.NewStore(db)
	opCfg.PasswordCost = auth.MinPasswordCost
	opCfg.Logger = cptest.DiscardLogger()
	ops := operators.New(opCfg)
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{Name: "test", Role: auth.RoleOperator, Via: "local"})
	if _, err := ops.AddUser(ctx, "alice", auth.RoleOperator, alicePass); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.AddUser(ctx, "victor", auth.RoleViewer, victorPass); err != nil {
		t.Fatal(err)
	}
	redisURL, rdb := cptest.RedisDB(t)
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt})
	t.Cleanup(func() { _ = mon.Close() })
	s := newLoginServer(t, opCfg, Config{Authenticator: ops, Monitoring: mon})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &loginFleet{srv: s, base: "http://" + s.Addr(), ops: ops, db: db, rdb: rdb}
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// reply is one response.
type reply struct {
	status  int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

// do sends one request with the given cookies and headers.
func do(t *testing.T, c *http.Client, method, url, contentType, body string, cookies []*http.Cookie, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header, resp.Cookies()}
}

const formType = "application/x-www-form-urlencoded"

// login posts the form and returns the reply.
func login(t *testing.T, c *http.Client, base, user, password, next string) reply {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}, "next": {next}}
	return do(t, c, http.MethodPost, base+"/login", formType, form.Encode(), nil, map[string]string{"Sec-Fetch-Site": "same-origin"})
}

// session logs in and returns the session cookie and the CSRF token.
func session(t *testing.T, c *http.Client, base, user, password string) (*http.Cookie, string) {
	t.Helper()
	r := login(t, c, base, user, password, "/dash")
	if r.status != http.StatusSeeOther {
		t.Fatalf("login %s: status %d (%s), want 303", user, r.status, r.body)
	}
	var sess, csrf *http.Cookie
	for _, ck := range r.cookies {
		switch ck.Name {
		case SessionCookie:
			sess = ck
		case csrfCookie:
			csrf = ck
		}
	}
	if sess == nil || csrf == nil {
		t.Fatalf("login %s set cookies %v, want %s and %s", user, r.cookies, SessionCookie, csrfCookie)
	}
	return sess, csrf.Value
}

func TestLoginSessionCookieAndCSRF(t *testing.T) {
	t.Parallel()
	f := startLoginFleet(t, operators.Config{})
	c := noRedirect(&http.Client{})
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}

	// Without a session: a browser asking for a page goes to the login
	// form; the API, and a non-browser, get 401 JSON.
	r := do(t, c, "GET", f.base+"/dash?tab=x", "", "", nil, html)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape("/dash?tab=x") {
		t.Fatalf("page without a session: %d to %q, want 303 to the login form", r.status, r.header.Get("Location"))
	}
	for _, path := range []string{"/api/v1/whoami", "/dash", "/monitoring/"} {
		hdr := map[string]string{}
		if strings.HasPrefix(path, "/api") {
			hdr = html // even a browser: the API never redirects
		}
		r = do(t, c, "GET", f.base+path, "", "", nil, hdr)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"error"`) || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s without a credential: %d %q, want 401 JSON", path, r.status, r.body)
		}
	}
	if r = do(t, c, "GET", f.base+"/monitoring/", "", "", nil, html); r.status != http.StatusSeeOther {
		t.Errorf("Asynqmon without a session: %d, want the redirect to /login", r.status)
	}
	r = do(t, c, "GET", f.base+"/login?next=/dash", "", "", nil, html)
	if r.status != 200 || !strings.Contains(r.body, `name="password"`) || !strings.Contains(r.body, `value="/dash"`) {
		t.Fatalf("login form: %d %q", r.status, r.body)
	}

	// A wrong password shows the form again, 401, and sets no cookie.
	if r = login(t, c, f.base, "alice", "wrong password!", "/dash"); r.status != http.StatusUnauthorized || len(r.cookies) != 0 ||
		!strings.Contains(r.body, "Wrong user name or password") {
		t.Fatalf("wrong password: %d, cookies %v", r.status, r.cookies)
	}
	// A cross-site login post is refused (login CSRF).
	form := url.Values{"user": {"alice"}, "password": {alicePass}}.Encode()
	if r = do(t, c, "POST", f.base+"/login", formType, form, nil, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", r.status)
	}

	r = login(t, c, f.base, "alice", alicePass, "/dash?tab=x")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dash?tab=x" {
		t.Fatalf("login: %d to %q, want 303 to next", r.status, r.header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range r.cookies {
		if ck.Name == SessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure || sess.Path != "/" || sess.Expires.IsZero() {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, Path /, an expiry", sess)
	}
	cookies := []*http.Cookie{sess}
	r = do(t, c, "GET", f.base+"/dash", "", "", cookies, html)
	if r.status != 200 || !strings.Contains(r.body, `"actor":"user:alice"`) {
		t.Fatalf("page with the session: %d %q", r.status, r.body)
	}
	_, csrf := session(t, c, f.base, "alice", alicePass) // another session, another token
	var mine struct{ CSRF string }
	r = do(t, c, "GET", f.base+"/api/v1/whoami", "", "", cookies, nil)
	if err := jsonField(r.body, "csrf", &mine.CSRF); err != nil || len(mine.CSRF) != 43 || mine.CSRF == csrf {
		t.Fatalf("whoami %q: want this session's own CSRF token in the context", r.body)
	}

	same := func(extra map[string]string) map[string]string {
		h := map[string]string{"Sec-Fetch-Site": "same-origin"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	writes := []struct {
		name        string
		url         string
		contentType string
		body        string
		header      map[string]string
		want        int
	}{
		{"API write without the CSRF token", "/api/v1/echo", "application/json", "{}", same(nil), 403},
		{"API write with another session's token", "/api/v1/echo", "application/json", "{}", same(map[string]string{HeaderCSRFToken: csrf}), 403},
		{"API write with a wrong token", "/api/v1/echo", "application/json", "{}", same(map[string]string{HeaderCSRFToken: strings.Repeat("A", 43)}), 403},
		{"API write with the token", "/api/v1/echo", "application/json", "{}", same(map[string]string{HeaderCSRFToken: mine.CSRF}), 200},
		{"API write with the token, as axios sends it", "/api/v1/echo", "application/json", "{}", same(map[string]string{headerXSRFToken: mine.CSRF}), 200},
		{"cross-site write with the token", "/api/v1/echo", "application/json", "{}", map[string]string{"Sec-Fetch-Site": "cross-site", HeaderCSRFToken: mine.CSRF}, 403},
		{"form post without the field", "/dash/act", formType, "thing=1", same(nil), 403},
		{"form post with a wrong field", "/dash/act", formType, "thing=1&csrf_token=" + csrf, same(nil), 403},
		{"form post with the field", "/dash/act", formType, "thing=1&csrf_token=" + mine.CSRF, same(nil), 200},
		{"text/plain post with the token in the body", "/dash/act", "text/plain", "csrf_token=" + mine.CSRF, same(nil), 403},
	}
	for _, w := range writes {
		if r := do(t, c, "POST", f.base+w.url, w.contentType, w.body, cookies, w.header); r.status != w.want {
			t.Errorf("%s: status %d (%s), want %d", w.name, r.status, r.body, w.want)
		}
	}

	// Logout needs the token too, then ends the session.
	if r = do(t, c, "POST", f.base+"/logout", formType, "", cookies, same(nil)); r.status != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d, want 403", r.status)
	}
	r = do(t, c, "POST", f.base+"/logout", formType, "csrf_token="+mine.CSRF, cookies, same(nil))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", r.status, r.header.Get("Location"))
	}
	cleared := false
	for _, ck := range r.cookies {
		cleared = cleared || ck.Name == SessionCookie && ck.MaxAge < 0
	}
	if !cleared {
		t.Errorf("logout cookies %v: want the session cookie cleared", r.cookies)
	}
	if r = do(t, c, "GET", f.base+"/dash", "", "", cookies, html); r.status != http.StatusSeeOther {
		t.Errorf("page with the logged-out cookie: %d, want the redirect to /login", r.status)
	}
	if r = do(t, c, "POST", f.base+"/api/v1/echo", "application/json", "{}", cookies, same(map[string]string{HeaderCSRFToken: mine.CSRF})); r.status != http.StatusUnauthorized {
		t.Errorf("write with the logged-out cookie: %d, want 401", r.status)
	}
	var audited int
	if err := f.db.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE actor = 'user:alice' AND action IN ('operator.login', 'operator.logout')`).Scan(&audited); err != nil || audited != 3 {
		t.Errorf("alice's logins and logout audited: %d (%v), want 3", audited, err)
	}
}

// jsonField reads one string field of a JSON object.
func jsonField(body, field string, into *string) error {
	var m map[string]string
	if err := jsonUnmarshal(body, &m); err != nil {
		return err
	}
	*into = m[field]
	return nil
}

// TestSessionCookieSecureOverTLS: the cookie is Secure when the login
// came over TLS, and with SecureCookies behind a TLS proxy.
func TestSessionCookieSecureOverTLS(t *testing.T) {
	t.Parallel()
	_, db := cptest.Database(t)
	ops := operators.New(operators.Config{Store: controlplane.NewStore(db), PasswordCost: auth.MinPasswordCost})
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{Name: "test", Role: auth.RoleOperator, Via: "local"})
	if _, err := ops.AddUser(ctx, "alice", auth.RoleOperator, alicePass); err != nil {
		t.Fatal(err)
	}
	secureOf := func(c *http.Client, base string) bool {
		t.Helper()
		r := login(t, noRedirect(c), base, "alice", alicePass, "/")
		if r.status != http.StatusSeeOther || len(r.cookies) != 2 {
			t.Fatalf("login at %s: %d, cookies %v", base, r.status, r.cookies)
		}
		for _, ck := range r.cookies {
			if ck.Secure != r.cookies[0].Secure {
				t.Fatalf("cookies %v: Secure differs", r.cookies)
			}
		}
		return r.cookies[0].Secure
	}
	plain := newLoginServer(t, operators.Config{}, Config{Authenticator: ops})
	tls := httptest.NewTLSServer(plain.mux)
	t.Cleanup(tls.Close)
	if !secureOf(tls.Client(), tls.URL) {
		t.Error("login over TLS: cookies not Secure")
	}
	http1 := httptest.NewServer(plain.mux)
	t.Cleanup(http1.Close)
	if secureOf(&http.Client{}, http1.URL) {
		t.Error("login over plain HTTP: cookies Secure (the browser would drop them)")
	}
	proxied := newLoginServer(t, operators.Config{}, Config{Authenticator: ops, SecureCookies: true})
	behind := httptest.NewServer(proxied.mux)
	t.Cleanup(behind.Close)
	if !secureOf(&http.Client{}, behind.URL) {
		t.Error("SecureCookies over plain HTTP (a TLS proxy in front): cookies not Secure")
	}
}

// TestViewerCannotAct: a viewer reads everything but every write, on the
// API, the pages and Asynqmon, is refused by the server (403), with a
// session (and the right CSRF token) or a named token; an operator's
// session acts in Asynqmon the way its page does (axios sending the
// XSRF-TOKEN cookie back as X-XSRF-TOKEN).
func TestViewerCannotAct(t *testing.T) {
	t.Parallel()
	f := startLoginFleet(t, operators.Config{})
	c := noRedirect(&http.Client{})
	paused := func() bool { return f.rdb.Exists(context.Background(), pausedKey("low")).Val() == 1 }
	vSess, vCSRF := session(t, c, f.base, "victor", victorPass)
	viewer := []*http.Cookie{vSess}
	same := map[string]string{"Sec-Fetch-Site": "same-origin", HeaderCSRFToken: vCSRF}
	for _, path := range []string{"/api/v1/whoami", "/dash", "/monitoring/", "/monitoring/api/queues"} {
		if r := do(t, c, "GET", f.base+path, "", "", viewer, nil); r.status != 200 {
			t.Errorf("viewer GET %s: %d, want 200", path, r.status)
		}
	}
	for _, w := range []struct{ method, path, contentType, body string }{
		{"POST", "/api/v1/echo", "application/json", "{}"},
		{"POST", "/dash/act", formType, "csrf_token=" + vCSRF},
		{"POST", "/monitoring/api/queues/low:pause", "", ""},
		{"DELETE", "/monitoring/api/queues/low", "", ""},
	} {
		if r := do(t, c, w.method, f.base+w.path, w.contentType, w.body, viewer, same); r.status != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d (%s), want 403", w.method, w.path, r.status, r.body)
		}
	}
	if paused() {
		t.Fatal("the viewer paused a queue")
	}
	tok, _, err := f.ops.CreateToken(auth.WithPrincipal(t.Context(), auth.Principal{Name: "t", Via: "local"}), "dashboards", auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	if r := do(t, c, "GET", f.base+"/api/v1/whoami", "", "", nil, bearer); r.status != 200 || !strings.Contains(r.body, `"actor":"token:dashboards"`) {
		t.Errorf("viewer token GET: %d %q", r.status, r.body)
	}
	if r := do(t, c, "POST", f.base+"/monitoring/api/queues/low:pause", "", "", nil, bearer); r.status != http.StatusForbidden || paused() {
		t.Errorf("viewer token pause: %d, paused %v; want 403", r.status, paused())
	}
	// The viewer may log out.
	if r := do(t, c, "POST", f.base+"/logout", "", "", viewer, same); r.status != http.StatusSeeOther {
		t.Errorf("viewer logout: %d, want 303", r.status)
	}

	oSess, oCSRF := session(t, c, f.base, "alice", alicePass)
	axios := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.base, headerXSRFToken: oCSRF}
	if r := do(t, c, "POST", f.base+"/monitoring/api/queues/low:pause", "", "", []*http.Cookie{oSess}, axios); r.status != http.StatusNoContent || !paused() {
		t.Fatalf("operator pause from Asynqmon's page: %d (%s), paused %v; want 204", r.status, r.body, paused())
	}
	delete(axios, headerXSRFToken)
	if r := do(t, c, "POST", f.base+"/monitoring/api/queues/low:resume", "", "", []*http.Cookie{oSess}, axios); r.status != http.StatusForbidden || !paused() {
		t.Errorf("operator resume without the CSRF token: %d, want 403 and still paused", r.status)
	}
}

// TestNamedTokensAndBootstrap: FLEET_API_TOKEN is the bootstrap operator;
// a named operator token acts as itself, by bearer or basic auth; a
// revoked one is 401.
func TestNamedTokensAndBootstrap(t *testing.T) {
	t.Parallel()
	f := startLoginFleet(t, operators.Config{})
	c := noRedirect(&http.Client{})
	tok, _, err := f.ops.CreateToken(auth.WithPrincipal(t.Context(), auth.Principal{Name: "t", Via: "local"}), "ci", auth.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	basic := func(pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		req.SetBasicAuth("script", pass)
		return req.Header.Get("Authorization")
	}
	for _, tc := range []struct {
		name, authz, want string
	}{
		{"bootstrap bearer", "Bearer " + testToken, "bootstrap"},
		{"named bearer", "Bearer " + tok, "token:ci"},
		{"named basic", basic(tok), "token:ci"},
		{"bootstrap basic", basic(testToken), "bootstrap"},
	} {
		r := do(t, c, "POST", f.base+"/api/v1/echo", "application/json", "{}", nil, map[string]string{"Authorization": tc.authz})
		if r.status != 200 || !strings.Contains(r.body, `"actor":"`+tc.want+`"`) {
			t.Errorf("%s: %d %q, want 200 as %s", tc.name, r.status, r.body, tc.want)
		}
	}
	if err := f.ops.RevokeToken(auth.WithPrincipal(t.Context(), auth.Principal{Name: "t", Via: "local"}), "ci"); err != nil {
		t.Fatal(err)
	}
	for _, authz := range []string{"Bearer " + tok, basic(tok), "Bearer " + auth.NewToken(), "Bearer nope", "Token " + testToken} {
		if r := do(t, c, "GET", f.base+"/api/v1/whoami", "", "", nil, map[string]string{"Authorization": authz}); r.status != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", authz, r.status)
		}
	}
	// A wrong Authorization header is not rescued by a valid cookie.
	sess, _ := session(t, c, f.base, "alice", alicePass)
	if r := do(t, c, "GET", f.base+"/api/v1/whoami", "", "", []*http.Cookie{sess}, map[string]string{"Authorization": "Bearer nope"}); r.status != http.StatusUnauthorized {
		t.Errorf("wrong bearer with a valid cookie: %d, want 401", r.status)
	}
}

// TestLoginRateLimitedOverHTTP: after the per-user limit the right
// password gets 429 and no session.
func TestLoginRateLimitedOverHTTP(t *testing.T) {
	t.Parallel()
	f := startLoginFleet(t, operators.Config{MaxFailuresPerUser: 2})
	c := noRedirect(&http.Client{})
	for range 2 {
		if r := login(t, c, f.base, "alice", "not the password", "/"); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.status)
		}
	}
	r := login(t, c, f.base, "alice", alicePass, "/")
	if r.status != http.StatusTooManyRequests || len(r.cookies) != 0 || !strings.Contains(r.body, "Too many failed logins") {
		t.Fatalf("right password after 2 failures: %d, cookies %v; want 429 and none", r.status, r.cookies)
	}
	if r := login(t, c, f.base, "victor", victorPass, "/"); r.status != http.StatusSeeOther {
		t.Errorf("victor from the same address: %d, want 303 (the address limit is 20)", r.status)
	}
}

// TestLoginRefusesOpenRedirect: next must be a path on this server.
func TestLoginRefusesOpenRedirect(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/dash?tab=alerts":            "/dash?tab=alerts",
		"/monitoring/queues":          "/monitoring/queues",
		"":                            "/",
		"https://evil.example/":       "/",
		"//evil.example/x":            "/",
		"/\\evil.example":             "/",
		"\\\\evil.example":            "/",
		"javascript:alert(1)":         "/",
		"/%0d%0aSet-Cookie:x=y":       "/%0d%0aSet-Cookie:x=y",
		"/\r\nLocation: http://evil":  "/",
		"evil.example":                "/",
		"/login?next=//evil.example":  "/",
		"/\t/evil.example":            "/",
		"https:/evil.example":         "/",
		"/.%2e/%2f%2fevil.example":    "/.%2e/%2f%2fevil.example",
		"//":                          "/",
		"/ok#frag":                    "/ok#frag",
		"http://127.0.0.1:1/monitor/": "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	f := startLoginFleet(t, operators.Config{})
	c := noRedirect(&http.Client{})
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example"} {
		r := login(t, c, f.base, "alice", alicePass, next)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
			t.Errorf("login with next=%q: %d to %q, want 303 to /", next, r.status, r.header.Get("Location"))
		}
	}
	r := do(t, c, "GET", f.base+"/login?next="+url.QueryEscape("//evil.example"), "", "", nil, nil)
	if strings.Contains(r.body, "evil.example") {
		t.Error("the login form carries a foreign next")
	}
}

func jsonUnmarshal(body string, v any) error { return json.Unmarshal([]byte(body), v) }
