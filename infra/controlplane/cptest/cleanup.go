package cptest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// DropFleetRolesAtCleanup drops every role of fleet on the server at
// adminURL when the test ends (tenant roles are cluster-wide, so a scratch
// database going away leaves them behind). A server already gone is
// logged, not failed: a private cluster takes its roles with it.
func DropFleetRolesAtCleanup(t testing.TB, adminURL, fleet string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Logf("drop fleet roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		if err := tenants.DropFleetRoles(ctx, conn, fleet); err != nil {
			t.Errorf("drop fleet roles: %v", err)
		}
	})
}

// StatementCounter is a pgx tracer counting every statement and pool
// acquire, so a test can tell that a refused request touched no database:
// set it as the ConnConfig.Tracer of the pool under test.
type StatementCounter struct{ n atomic.Int64 }

// Count is how many statements and acquires were traced so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// TraceQueryStart implements pgx.QueryTracer.
func (c *StatementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (c *StatementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (c *StatementCounter) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (c *StatementCounter) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {
}

// AsTenant runs sql in one transaction on db (an admin connection or pool
// on the tenant's instance database) scoped to the tenant's role and
// schema, the way the tenant's own application creates and fills its
// objects: test fixtures only, never fleet code.
func AsTenant(t testing.TB, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, role, schema, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true), set_config('search_path', $2, true)",
			role, pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		t.Fatalf("as tenant role %s: %v", role, err)
	}
}
