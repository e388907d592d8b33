package controlplane_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publicAccess reports whether PUBLIC holds CONNECT and TEMPORARY on
// database.
func publicAccess(t *testing.T, database string) (connect, temp bool) {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT'),
		has_database_privilege('public', $1, 'TEMPORARY')`, database).Scan(&connect, &temp); err != nil {
		t.Fatal(err)
	}
	return connect, temp
}

// loginRole creates a LOGIN role holding no privilege at all (a tenant's
// role, the application's login: any other role of the server) and
// returns a function connecting as it to a database.
func loginRole(t *testing.T) func(database string) error {
	t.Helper()
	ctx := testContext(t)
	fleet := cptest.UniqueName("cp")
	cptest.DropFleetOnCleanup(t, fleet)
	role := fleet + "_stranger"
	server := cptest.ServerConfig(t).DatabaseURL
	admin, err := pgx.Connect(ctx, config.WithDatabase(server, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	return func(database string) error {
		u, err := url.Parse(config.WithDatabase(server, database))
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
}

func isPermissionDenied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501" // insufficient_privilege
}

// TestOpenRevokesPublicOnExistingDatabase: a control-plane database made
// before (PostgreSQL's defaults: PUBLIC may connect and create temporary
// tables) loses PUBLIC's access when the fleet starts on it, and any other
// role of the server is refused at connect; a second start is a no-op.
func TestOpenRevokesPublicOnExistingDatabase(t *testing.T) {
	t.Parallel()
	connectAs := loginRole(t)
	name := cptest.ScratchDatabase(t)
	if connect, temp := publicAccess(t, name); !connect || !temp {
		t.Fatalf("a fresh database: PUBLIC connect %v, temporary %v; want PostgreSQL's defaults (both)", connect, temp)
	}
	if err := connectAs(name); err != nil {
		t.Fatalf("before the fleet started, a stranger could not connect (the test would prove nothing): %v", err)
	}
	dbURL := config.WithDatabase(cptest.ServerConfig(t).DatabaseURL, name)
	for start := 1; start <= 2; start++ {
		pool, err := controlplane.Open(testContext(t), dbURL, cptest.DiscardLogger())
		if err != nil {
			t.Fatalf("start %d: Open: %v", start, err)
		}
		pool.Close()
		if connect, temp := publicAccess(t, name); connect || temp {
			t.Errorf("start %d: PUBLIC connect %v, temporary %v; want neither", start, connect, temp)
		}
		if err := connectAs(name); !isPermissionDenied(err) {
			t.Errorf("start %d: a stranger connecting: %v, want permission denied", start, err)
		}
	}
}

// TestOpenCreatesDatabaseWithoutPublicAccess: a database the fleet creates
// never keeps PUBLIC's access.
func TestOpenCreatesDatabaseWithoutPublicAccess(t *testing.T) {
	t.Parallel()
	connectAs := loginRole(t)
	server := cptest.ServerConfig(t).DatabaseURL
	name := cptest.UniqueName("tftest_")
	t.Cleanup(func() { cptest.DropDatabase(t, config.WithDatabase(server, "postgres"), name) })
	if err := controlplane.EnsureDatabase(testContext(t), config.WithDatabase(server, name)); err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	if connect, temp := publicAccess(t, name); connect || temp {
		t.Errorf("created database: PUBLIC connect %v, temporary %v; want neither", connect, temp)
	}
	if err := connectAs(name); !isPermissionDenied(err) {
		t.Errorf("a stranger connecting to the created database: %v, want permission denied", err)
	}
}
