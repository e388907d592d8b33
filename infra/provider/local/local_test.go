package local_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/local"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// setup returns a provider on the test server and a unique fleet name whose
// databases are dropped when the test ends.
func setup(t *testing.T, mutate ...func(*local.Config)) (*local.Provider, string, string) {
	t.Helper()
	admin := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres")
	cfg := local.Config{AdminURL: admin, Logger: cptest.DiscardLogger()}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := local.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	t.Cleanup(p.Close)
	return p, cptest.UniqueName("t"), admin
}

func create(t *testing.T, p *local.Provider, admin string, s provider.Spec) provider.Instance {
	t.Helper()
	t.Cleanup(func() { cptest.DropDatabase(t, admin, local.DatabaseName(s.Fleet, s.ID)) })
	inst, err := p.Create(t.Context(), s)
	if err != nil {
		t.Fatalf("Create %s: %v", s.ID, err)
	}
	return inst
}

func TestCreateDescribeDelete(t *testing.T) {
	t.Parallel()
	p, fleet, admin := setup(t, func(c *local.Config) { c.MaxConnections = 10; c.StorageBytes = 64 << 20 })
	spec := provider.Spec{ID: "shared-001", Tier: tenants.Shared, Fleet: fleet}

	inst := create(t, p, admin, spec)
	wantRef := fleet + "_inst_shared_001"
	if inst.ID != "shared-001" || inst.ProviderRef != wantRef || inst.Database != wantRef || inst.Status != provider.StatusReady {
		t.Errorf("Create: got %+v, want shared-001 ready as database %s", inst, wantRef)
	}
	if inst.Host != "127.0.0.1" || inst.Port != 5432 {
		t.Errorf("endpoint: got %s:%d, want the admin URL's 127.0.0.1:5432", inst.Host, inst.Port)
	}
	if inst.MaxConnections != 10 || inst.StorageBytes != 64<<20 || inst.SecretRef != "" {
		t.Errorf("limits: got %d conns, %d bytes, secret %q; want 10, %d, none", inst.MaxConnections, inst.StorageBytes, inst.SecretRef, 64<<20)
	}

	// The database is real: a tenant connection works.
	conn, err := pgx.Connect(t.Context(), config.WithDatabase(admin, inst.Database))
	if err != nil {
		t.Fatalf("connect to instance: %v", err)
	}
	var db string
	if err := conn.QueryRow(t.Context(), "select current_database()").Scan(&db); err != nil || db != inst.Database {
		t.Errorf("current_database: got %q, %v; want %s", db, err, inst.Database)
	}

	again, err := p.Create(t.Context(), spec)
	if err != nil || again != inst {
		t.Errorf("Create again: got %+v, %v; want %+v", again, err, inst)
	}

	// Delete disconnects the open session.
	if err := p.Delete(t.Context(), inst.ProviderRef); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_ = conn.Close(context.Background())
	if _, err := p.Describe(t.Context(), inst.ProviderRef); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Describe after Delete: got %v, want ErrNotFound", err)
	}
	if err := p.Delete(t.Context(), inst.ProviderRef); err != nil {
		t.Errorf("Delete again: got %v, want nil", err)
	}
}

func TestDescribeUnknownIsNotFound(t *testing.T) {
	t.Parallel()
	p, fleet, _ := setup(t)
	if _, err := p.Describe(t.Context(), fleet+"_inst_nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Describe: got %v, want ErrNotFound", err)
	}
	if _, err := p.Usage(t.Context(), fleet+"_inst_nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Usage: got %v, want ErrNotFound", err)
	}
}

func TestReadReplicaUnsupported(t *testing.T) {
	t.Parallel()
	p, fleet, _ := setup(t)
	_, err := p.CreateReadReplica(t.Context(), fleet+"_inst_a", "a-r1")
	if !errors.Is(err, provider.ErrUnsupported) || provider.Retryable(err) {
		t.Errorf("CreateReadReplica: got %v, want a non-retryable ErrUnsupported", err)
	}
}

func TestCreateInvalidSpec(t *testing.T) {
	t.Parallel()
	p, _, _ := setup(t)
	for _, s := range []provider.Spec{
		{ID: "x; drop", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "ok", Tier: tenants.Shared, Fleet: "Bad-Fleet"},
	} {
		if _, err := p.Create(t.Context(), s); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Create(%+v): got %v, want ErrInvalid", s, err)
		}
	}
}

func TestDeleteRefusesSystemDatabases(t *testing.T) {
	t.Parallel()
	p, _, _ := setup(t)
	for _, ref := range []string{"", "postgres", "template1"} {
		if err := p.Delete(t.Context(), ref); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Delete(%q): got %v, want ErrInvalid", ref, err)
		}
	}
}

// TestCapacityCrossesThreshold walks the provisioner's path: usage of a
// small instance measured against configured limits crosses 80%.
func TestCapacityCrossesThreshold(t *testing.T) {
	t.Parallel()
	p, fleet, admin := setup(t, func(c *local.Config) { c.MaxConnections = 5; c.StorageBytes = 1 << 40 })
	inst := create(t, p, admin, provider.Spec{ID: "shared-002", Tier: tenants.Shared, Fleet: fleet})

	u, err := p.Usage(t.Context(), inst.ProviderRef)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.Connections != 0 || u.StorageBytes <= 0 {
		t.Errorf("idle usage: got %+v, want 0 connections and a positive size", u)
	}
	if c := provider.CapacityOf(inst, u, 0, 100); c.Exceeds(provider.DefaultCapacityThreshold) {
		t.Errorf("idle capacity ratio %.2f: want under 0.8", c.Ratio())
	}

	for range 4 {
		conn, err := pgx.Connect(t.Context(), config.WithDatabase(admin, inst.Database))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
	}
	u, err = p.Usage(t.Context(), inst.ProviderRef)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.Connections != 4 {
		t.Errorf("connections: got %d, want 4", u.Connections)
	}
	c := provider.CapacityOf(inst, u, 0, 100)
	if got := c.Ratio(); got != 0.8 || !c.Exceeds(provider.DefaultCapacityThreshold) {
		t.Errorf("capacity with 4 of 5 connections: got ratio %v, want 0.8 (at threshold)", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []local.Config{
		{},
		{AdminURL: "postgres://u:secret@127.0.0.1:5432/postgres", MaxConnections: -1},
		{AdminURL: "::not a url::"},
	} {
		_, err := local.New(t.Context(), cfg)
		if !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("New: got %v, want ErrInvalid", err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("New: error %q leaks the password", err)
		}
	}
}

// TestConcurrentCreatesOfOneInstanceAllSucceed: racing CREATE DATABASE of
// one name fails with a unique violation on pg_database rather than
// duplicate_database; Create absorbs both, so every racer gets the instance.
func TestConcurrentCreatesOfOneInstanceAllSucceed(t *testing.T) {
	t.Parallel()
	p, fleet, admin := setup(t, func(c *local.Config) { c.MaxPoolConns = 8 })
	spec := provider.Spec{ID: "raced-001", Tier: tenants.Shared, Fleet: fleet}
	t.Cleanup(func() { cptest.DropDatabase(t, admin, local.DatabaseName(fleet, spec.ID)) })
	const racers = 8
	errs := make(chan error, racers)
	start := make(chan struct{})
	for range racers {
		go func() {
			<-start
			inst, err := p.Create(t.Context(), spec)
			if err == nil && inst.Status != provider.StatusReady {
				err = fmt.Errorf("status %s, want ready", inst.Status)
			}
			errs <- err
		}()
	}
	close(start)
	for range racers {
		if err := <-errs; err != nil {
			t.Errorf("racing Create: %v", err)
		}
	}
}

func TestDropFleetDatabases(t *testing.T) {
	t.Parallel()
	p, fleet, admin := setup(t)
	for _, id := range []string{"one", "two"} {
		if _, err := p.Create(t.Context(), provider.Spec{ID: id, Tier: tenants.Shared, Fleet: fleet}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := local.DropFleetDatabases(t.Context(), conn, fleet); err != nil {
		t.Fatalf("DropFleetDatabases: %v", err)
	}
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '%'`, fleet).Scan(&left); err != nil || left != 0 {
		t.Fatalf("databases of %s left: %d (%v), want 0", fleet, left, err)
	}
	if err := local.DropFleetDatabases(t.Context(), conn, fleet); err != nil {
		t.Errorf("second DropFleetDatabases: %v, want nil (idempotent)", err)
	}
}
