package tenants_test

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// init gives the in-package tests the helpers they cannot import (see
// tenants.TestEnv).
func init() {
	env := &tenants.TestEnv
	env.ServerConfig = cptest.ServerConfig
	env.Database = cptest.Database
	env.ScratchDatabase = cptest.ScratchDatabase
	env.RedisDB = cptest.RedisDB
	env.UniqueName = cptest.UniqueName
	env.DiscardLogger = cptest.DiscardLogger
	env.NewStore = func(db *pgxpool.Pool) tenants.TestStore { return testStore{controlplane.NewStore(db)} }
}

// testStore is tenants.TestStore over the real controlplane.Store.
type testStore struct{ *controlplane.Store }

func (s testStore) AddInstance(ctx context.Context, id string, tier tenants.Tier, host string, port int, database string) error {
	_, err := s.CreateInstance(ctx, controlplane.Instance{
		Instance: provider.Instance{ID: id, Status: provider.StatusReady, Host: host, Port: port, Database: database},
		Provider: "local", Tier: tier,
	})
	return err
}

func (s testStore) AddTenant(ctx context.Context, id, name string, tier tenants.Tier) error {
	_, err := s.CreateTenant(ctx, controlplane.Tenant{ID: id, Name: name, Tier: tier})
	return err
}

func (s testStore) PlaceTenant(ctx context.Context, id, instanceID, database, schema, role string) (int64, error) {
	return s.SetTenantPlacement(ctx, id, controlplane.Placement{InstanceID: instanceID, Database: database, Schema: schema, Role: role})
}
