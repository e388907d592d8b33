package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/auth"
)

// login adds the user with role and logs the browser in through the login
// form that a page without a session redirects to; it returns how the
// user's actions are recorded.
func login(t *testing.T, f *browserFleet, b context.Context, user, role string) string {
	t.Helper()
	password := user + "-password-0123456789"
	if _, err := operators.New(operators.Config{Store: f.store}).AddUser(t.Context(), user, auth.Role(role), password); err != nil {
		t.Fatal(err)
	}
	var url string
	if err := chromedp.Run(b, chromedp.Navigate(f.base+"/tenants"), chromedp.WaitVisible("#password", chromedp.ByQuery),
		chromedp.Location(&url)); err != nil {
		t.Fatalf("no login form for a browser without a session: %v", err)
	}
	if !strings.Contains(url, "/login?next=") {
		t.Errorf("a page without a session went to %s, want /login?next=", url)
	}
	if err := chromedp.Run(b, chromedp.SendKeys("#user", user, chromedp.ByQuery), chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery), chromedp.WaitVisible("#who", chromedp.ByQuery)); err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	if got := text(t, b, "#who"); !strings.Contains(got, user) || !strings.Contains(got, role) {
		t.Errorf("logged in as %q, the header says %q", user, got)
	}
	return "user:" + user
}

// checkRefusals: a request without a session gets the login page, an
// action without the CSRF token is refused, and a viewer sees no action
// and is refused one.
func checkRefusals(t *testing.T, f *browserFleet, b context.Context, alertID int64) {
	t.Helper()
	ack := fmt.Sprintf("/api/v1/alerts/%d/ack", alertID)

	// The operator's session without its CSRF token.
	if err := chromedp.Run(b, chromedp.Navigate(f.base+"/alerts")); err != nil {
		t.Fatal(err)
	}
	if code, body := fetchStatus(t, b, ack, map[string]string{"Content-Type": "application/json"}); code != http.StatusForbidden {
		t.Errorf("ack without the CSRF token: %d %s, want 403", code, body)
	}
	if code, body := fetchStatus(t, b, ack, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "not-the-token"}); code != http.StatusForbidden {
		t.Errorf("ack with a wrong CSRF token: %d %s, want 403", code, body)
	}

	// A fresh browser: no session, the login page.
	anon := newBrowser(t)
	var html string
	if err := chromedp.Run(anon, chromedp.Navigate(f.base+"/"), chromedp.WaitVisible("#password", chromedp.ByQuery),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery)); err != nil {
		t.Fatalf("/ without a session: %v", err)
	}
	if strings.Contains(html, "Instances") {
		t.Error("/ without a session shows the overview")
	}
	screenshot(t, anon, "login")

	// A viewer: the pages without buttons, and the server refuses anyway.
	viewer := newBrowser(t)
	login(t, f, viewer, "vic", "viewer")
	if err := chromedp.Run(viewer, chromedp.Navigate(f.base+"/alerts"), chromedp.WaitVisible("#alerts-open", chromedp.ByQuery),
		chromedp.OuterHTML("main", &html, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "hx-post") {
		t.Error("a viewer's alerts page shows actions")
	}
	screenshot(t, viewer, "viewer")
	var csrf string
	if err := chromedp.Run(viewer, chromedp.AttributeValue(`meta[name="csrf-token"]`, "content", &csrf, nil, chromedp.ByQuery)); err != nil || csrf == "" {
		t.Fatalf("viewer's page has no CSRF token (%v)", err)
	}
	if code, body := fetchStatus(t, viewer, ack, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf}); code != http.StatusForbidden {
		t.Errorf("a viewer's ack with the CSRF token: %d %s, want 403", code, body)
	}
	if code, _ := fetchStatus(t, viewer, "/api/v1/migrations", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf}); code != http.StatusForbidden {
		t.Errorf("a viewer's migration start: %d, want 403", code)
	}
}
