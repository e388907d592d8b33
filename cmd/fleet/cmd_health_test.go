package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// `fleet health` prints the latest health the sweeps stored: every
// instance, its tenants and the terminated sessions, filtered by instance
// or tenant, as a table or JSON; bad filters are usage errors before any
// read.
func TestHealthCommand(t *testing.T) {
	env, db, _ := scratchFleet(t, "hc")
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	store := controlplane.NewStore(db)
	now := time.Now().UTC()
	for _, id := range []string{"001-shared", "002-shared"} {
		if err := store.RecordInstanceHealth(ctx, controlplane.InstanceHealth{InstanceID: id, CheckedAt: now, Up: id == "001-shared",
			Connections: 3, ServerConnections: 9, MaxConnections: 100, Error: map[bool]string{true: "", false: "timeout"}[id == "001-shared"]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.ReplaceTenantHealth(ctx, "001-shared", now, []controlplane.TenantHealth{
		{TenantID: "acme-bank", Connections: 2, XIDAge: 812, CatalogOK: true},
		{TenantID: "globex", CatalogOK: false, Problems: []string{"schema missing"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordDrain(ctx, controlplane.Drain{InstanceID: "001-shared", TenantID: "globex", PID: 4242, UserName: "tf_app", IdleSeconds: 130}); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"health"}, args...), getenv, &out, io.Discard)
		return out.String(), err
	}
	text, err := cli()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"001-shared", "002-shared", "timeout", "acme-bank", "schema missing", "4242"} {
		if !strings.Contains(text, want) {
			t.Errorf("fleet health lacks %q:\n%s", want, text)
		}
	}
	raw, err := cli("--tenant", "globex", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v restapi.HealthJSON
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Tenants) != 1 || v.Tenants[0].TenantID != "globex" || len(v.Instances) != 1 || v.Instances[0].InstanceID != "001-shared" ||
		len(v.Drains) != 1 || v.Drains[0].PID != 4242 {
		t.Fatalf("fleet health --tenant globex = %+v", v)
	}
	if raw, err = cli("--instance", "002-shared", "--json"); err != nil {
		t.Fatal(err)
	}
	v = restapi.HealthJSON{}
	if err := json.Unmarshal([]byte(raw), &v); err != nil || len(v.Instances) != 1 || v.Instances[0].Up || len(v.Tenants) != 0 {
		t.Fatalf("fleet health --instance 002-shared = %+v, %v", v, err)
	}
	for _, bad := range [][]string{{"--instance", "x y"}, {"--tenant", "Not_A_Tenant"}, {"--drains", "0"}, {"extra"}} {
		if _, err := cli(bad...); !errors.Is(err, errUsage) {
			t.Errorf("fleet health %v: %v, want a usage error", bad, err)
		}
	}
}
