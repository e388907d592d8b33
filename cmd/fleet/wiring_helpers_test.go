package main

import (
	"context"
	"testing"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// wireFleet loads the configuration from env, opens the app and builds the
// fleet's services as `fleet run` does; both close when the test ends.
func wireFleet(t *testing.T, ctx context.Context, env map[string]string) (*app, *services) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(ctx, cfg, cptest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	svc, err := newServices(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.close)
	return a, svc
}
