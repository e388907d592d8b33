package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// TestStrictTenantOnboardedThroughWebhookServesTraffic onboards a strict
// tenant through the signed ticket webhook and a pooled one through the
// CLI, both on one shared instance with a running worker, then serves both
// through tenants.Pools: the strict tenant's work runs logged in as its own
// role and cannot SET ROLE to its neighbour, the pooled one's as the
// application role. `fleet tenants set-isolation` then flips both ways,
// audited, and the pools follow the published route.
func TestStrictTenantOnboardedThroughWebhookServesTraffic(t *testing.T) {
	env, db, _ := scratchFleet(t, "s")
	const ticketSecret = "ticket-secret-0123456789"
	env["FLEET_TICKET_WEBHOOK_SECRET"] = ticketSecret
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	a, svc := wireFleet(t, ctx, env)
	w, err := queue.NewWorker(queue.WorkerConfig{Redis: a.redis, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterHandlers(w)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: "strict-test-token-0123", Registry: a.registry, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterRoutes(srv, a.log); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv, &out, io.Discard)
		return out.String(), err
	}

	// The strict tenant, by webhook.
	body, _ := json.Marshal(map[string]any{"ticket_id": "TCK-9", "tenant_id": "vault-bank", "name": "Vault Bank", "isolation": "strict"})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ticketSecret))
	mac.Write([]byte("msg_strict." + ts + "."))
	mac.Write(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.Addr()+"/webhooks/tickets", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", "msg_strict")
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", resp.StatusCode, raw)
	}
	// A neighbour, pooled, by CLI; and a bad level is a usage error.
	if _, err := cli("tenants", "onboard", "open-shop", "--name", "Open Shop", "--isolation", "airgapped"); !errors.Is(err, errUsage) {
		t.Fatalf("onboard --isolation airgapped: %v, want a usage error", err)
	}
	if out, err := cli("tenants", "onboard", "open-shop", "--name", "Open Shop", "--wait"); err != nil {
		t.Fatalf("onboard open-shop: %v\n%s", err, out)
	}
	store := controlplane.NewStore(db)
	deadline := time.Now().Add(60 * time.Second)
	for {
		tn, err := store.GetTenant(ctx, "vault-bank")
		if err == nil && tn.Status == tenants.TenantActive {
			if tn.Isolation != tenants.Strict {
				t.Fatalf("vault-bank isolation %s, want strict", tn.Isolation)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault-bank not active: %+v, %v", tn, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := cli("tenants", "show", "vault-bank", "--json"); err != nil || !strings.Contains(out, `"isolation": "strict"`) {
		t.Errorf("tenants show --json: %v\n%s", err, out)
	}

	// The application's pools: strict logins derived from the fleet's key.
	key, _, err := controlplane.NewStore(db).SecretKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logins, err := sessions.NewLogins(key)
	if err != nil {
		t.Fatal(err)
	}
	pools, err := tenants.NewPools(tenants.PoolsConfig{Resolver: svc.Router, Fleet: a.cfg.Name, PoolSize: 4, Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	defer pools.Stop()
	vault, _ := tenants.NamesFor(a.cfg.Name, "vault-bank")
	shop, _ := tenants.NamesFor(a.cfg.Name, "open-shop")
	sessionOf := func(id string) string {
		t.Helper()
		var user string
		if err := pools.QueryRow(ctx, id, "SELECT session_user::text").Scan(&user); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return user
	}
	if got := sessionOf("vault-bank"); got != vault.Role {
		t.Fatalf("strict tenant runs as %s, want its own role %s", got, vault.Role)
	}
	if got := sessionOf("open-shop"); got != tenants.AppRoleName(a.cfg.Name) {
		t.Fatalf("pooled tenant runs as %s, want the application role", got)
	}
	if _, err := pools.Exec(ctx, "vault-bank", "SET ROLE "+shop.Role); err == nil {
		t.Fatal("the strict tenant switched to its neighbour's role")
	}

	// Flip both ways, audited; the pools follow.
	if out, err := cli("tenants", "set-isolation", "vault-bank", "pooled"); err != nil || !strings.Contains(out, "pooled") {
		t.Fatalf("set-isolation pooled: %v\n%s", err, out)
	}
	waitSession := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for sessionOf(id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s still not running as %s", id, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSession("vault-bank", tenants.AppRoleName(a.cfg.Name))
	if out, err := cli("tenants", "set-isolation", "open-shop", "strict"); err != nil {
		t.Fatalf("set-isolation strict: %v\n%s", err, out)
	}
	waitSession("open-shop", shop.Role)
	if _, err := cli("tenants", "set-isolation", "open-shop", "dedicated"); !errors.Is(err, errUsage) {
		t.Errorf("set-isolation dedicated: %v, want a usage error", err)
	}
	var entries int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'tenant.set_isolation' AND outcome = 'done'
		AND ((tenant_id = 'vault-bank' AND details->>'from' = 'strict' AND details->>'to' = 'pooled')
		  OR (tenant_id = 'open-shop' AND details->>'from' = 'pooled' AND details->>'to' = 'strict'))`).Scan(&entries); err != nil || entries != 2 {
		t.Fatalf("audit entries of the two changes: %d, %v; want 2", entries, err)
	}
}
