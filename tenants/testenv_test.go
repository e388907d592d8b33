package tenants

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantfleet/tenantfleet/config"
)

// TestEnv is what this package's own tests need from packages that import
// tenants themselves: cptest (scratch databases, Redis leases) and
// controlplane (the store of routes). Go refuses the import cycle from a
// test in package tenants, so testenv_hook_test.go (package tenants_test,
// the same test binary) fills TestEnv in an init function, before TestMain
// runs. Test-only: it does not exist outside `go test`.
var TestEnv struct {
	// ServerConfig, Database, ScratchDatabase, RedisDB, UniqueName and
	// DiscardLogger are cptest's functions of the same names.
	ServerConfig    func(testing.TB) config.Config
	Database        func(testing.TB) (string, *pgxpool.Pool)
	ScratchDatabase func(testing.TB) string
	RedisDB         func(testing.TB) (string, *redis.Client)
	UniqueName      func(prefix string) string
	DiscardLogger   func() *slog.Logger
	// NewStore returns the control plane's store over db.
	NewStore func(db *pgxpool.Pool) TestStore
}

// TestStore is what the tests write the control plane through: the
// RouteSource the Routers read, plus the writes a fixture needs, backed by
// controlplane.Store.
type TestStore interface {
	RouteSource
	// AddInstance records a ready local instance.
	AddInstance(ctx context.Context, id string, tier Tier, host string, port int, database string) error
	// AddTenant records a pending tenant.
	AddTenant(ctx context.Context, id, name string, tier Tier) error
	// PlaceTenant records where the tenant's data lives and returns its
	// new route version.
	PlaceTenant(ctx context.Context, id, instanceID, database, schema, role string) (int64, error)
	// SetTenantStatus sets the tenant's status and returns its new route
	// version.
	SetTenantStatus(ctx context.Context, id string, status TenantStatus, reason string) (int64, error)
	// SetTenantIsolation sets the tenant's isolation level and returns its
	// route version.
	SetTenantIsolation(ctx context.Context, id string, level Isolation) (int64, error)
}
