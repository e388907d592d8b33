package main

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// login makes the browser send the bootstrap token as basic auth (until
// the session login lands); it returns how an action of the browser is
// recorded.
func login(t *testing.T, f *browserFleet, b context.Context, user, role string) string {
	t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+f.token))
	if err := chromedp.Run(b, network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Authorization": auth})); err != nil {
		t.Fatal(err)
	}
	return "api"
}

// checkRefusals: nothing to check before the login lands.
func checkRefusals(t *testing.T, f *browserFleet, b context.Context, alertID int64) {}
