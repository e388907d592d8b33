package tenants

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs one SQL statement. *pgx.Conn, *pgxpool.Pool and pgx.Tx are
// Execers.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// The isolation DDL below is what the provisioning agent runs over an admin
// connection (a superuser, or on RDS the master user) to the database of an
// instance. Every function is idempotent and converges: rerunning it after a
// crash at any point finishes the job. Identifiers are always quoted with
// pgx.Identifier.Sanitize.

// PrepareDatabase readies a shared (or dedicated) tenant database for the
// fleet: PUBLIC loses CONNECT and TEMPORARY on the database and CREATE on
// schema public; the fleet's application role is created when missing as
// LOGIN NOINHERIT (so it holds no tenant privilege until it switches role)
// and is granted CONNECT. conn must be connected to database.
func PrepareDatabase(ctx context.Context, conn Execer, fleet, database string) error {
	if err := ValidateFleet(fleet); err != nil {
		return err
	}
	app := AppRoleName(fleet)
	db := pgx.Identifier{database}.Sanitize()
	appQ := pgx.Identifier{app}.Sanitize()
	if err := ensureRole(ctx, conn, app, "LOGIN NOINHERIT", "LOGIN NOINHERIT"); err != nil {
		return err
	}
	for _, stmt := range []string{
		"REVOKE CONNECT, TEMPORARY ON DATABASE " + db + " FROM PUBLIC",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + db + " TO " + appQ,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("tenants: prepare database %s: %w", database, err)
		}
	}
	return nil
}

// EnsureTenant creates (or repairs) the tenant's role, its schema owned by
// that role with no PUBLIC access, and makes the application role a member
// of the tenant role (the application role is NOINHERIT, so the membership
// only allows a transaction-local role switch). A new role is NOLOGIN until
// EnableLogin gives it a password; a repaired one keeps its LOGIN attribute
// but loses any privilege beyond a plain role (superuser, CREATEROLE,
// CREATEDB, REPLICATION, BYPASSRLS, INHERIT). conn must be connected to the
// tenant's database, which PrepareDatabase has readied.
func EnsureTenant(ctx context.Context, conn Execer, n Names) error {
	if err := n.validate(); err != nil {
		return err
	}
	if err := ensureRole(ctx, conn, n.Role, "NOLOGIN NOINHERIT", plainRole); err != nil {
		return err
	}
	role := pgx.Identifier{n.Role}.Sanitize()
	schema := pgx.Identifier{n.Schema}.Sanitize()
	for _, stmt := range []string{
		// A non-superuser admin (the RDS master user) may only create a
		// schema owned by a role it is a member of.
		"GRANT " + role + " TO CURRENT_USER",
		"CREATE SCHEMA IF NOT EXISTS " + schema + " AUTHORIZATION " + role,
		"ALTER SCHEMA " + schema + " OWNER TO " + role,
		"REVOKE ALL ON SCHEMA " + schema + " FROM PUBLIC",
		"GRANT " + role + " TO " + pgx.Identifier{n.AppRole}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("tenants: ensure tenant %s: %w", n.TenantID, err)
		}
	}
	return nil
}

// RevokeTenant cuts everyone off the tenant: the application role is no
// longer a member of the tenant role, so no pool can switch to it, and the
// tenant role itself can no longer log in (DisableLogin). The data stays.
// It is a no-op when the tenant role does not exist.
func RevokeTenant(ctx context.Context, conn Execer, n Names) error {
	if err := n.validate(); err != nil {
		return err
	}
	exists, err := roleExists(ctx, conn, n.Role)
	if err != nil || !exists {
		return err
	}
	if err := DisableLogin(ctx, conn, n); err != nil {
		return err
	}
	if exists, err = roleExists(ctx, conn, n.AppRole); err != nil || !exists {
		return err
	}
	// Revoking a membership that is not there is a warning, not an error.
	stmt := "REVOKE " + pgx.Identifier{n.Role}.Sanitize() + " FROM " + pgx.Identifier{n.AppRole}.Sanitize()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("tenants: revoke tenant %s: %w", n.TenantID, err)
	}
	return nil
}

// DropTenant removes the tenant's schema with everything in it and then its
// role. It is a no-op for what no longer exists. conn must be connected to
// the tenant's database; objects the role owns in other databases must be
// dropped there first (DROP ROLE fails otherwise).
func DropTenant(ctx context.Context, conn Execer, n Names) error {
	if err := n.validate(); err != nil {
		return err
	}
	role := pgx.Identifier{n.Role}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n.Schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("tenants: drop tenant %s schema: %w", n.TenantID, err)
	}
	exists, err := roleExists(ctx, conn, n.Role)
	if err != nil || !exists {
		return err
	}
	for _, stmt := range []string{"DROP OWNED BY " + role + " CASCADE", "DROP ROLE IF EXISTS " + role} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("tenants: drop tenant %s role: %w", n.TenantID, err)
		}
	}
	return nil
}

// plainRole are the attributes that keep a tenant role from being more than
// a role: it can own objects and log in, nothing else.
const plainRole = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"

// ensureRole creates role with the attributes create, or alters an existing
// one to have the attributes alter; a concurrent creation is not an error.
func ensureRole(ctx context.Context, conn Execer, name, create, alter string) error {
	q := pgx.Identifier{name}.Sanitize()
	_, err := conn.Exec(ctx, "CREATE ROLE "+q+" "+create)
	if err != nil && !isDuplicateRole(err) {
		return fmt.Errorf("tenants: create role %s: %w", name, err)
	}
	if err != nil {
		if _, err := conn.Exec(ctx, "ALTER ROLE "+q+" "+alter); err != nil {
			return fmt.Errorf("tenants: alter role %s: %w", name, err)
		}
	}
	return nil
}

func roleExists(ctx context.Context, conn Execer, name string) (bool, error) {
	tag, err := conn.Exec(ctx, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", name)
	if err != nil {
		return false, fmt.Errorf("tenants: look up role %s: %w", name, err)
	}
	return tag.RowsAffected() > 0, nil
}

func isDuplicateRole(err error) bool {
	var pgErr *pgconn.PgError
	// 42710 duplicate_object; 23505 when two sessions race on pg_authid.
	return errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "23505")
}

func (n Names) validate() error {
	want, err := NamesFor(n.Fleet, n.TenantID)
	if err != nil {
		return err
	}
	if want != n {
		return fmt.Errorf("tenants: names of %s were altered: got %+v, want %+v", n.TenantID, n, want)
	}
	return nil
}

// DropFleetRoles drops every role of fleet (the application role and all
// tenant roles, "<fleet>_..."). The databases holding their objects must be
// gone, or the roles' objects dropped, first. Tests and fleetbench use it to
// clean up; it is idempotent.
func DropFleetRoles(ctx context.Context, conn Execer, fleet string) error {
	if err := ValidateFleet(fleet); err != nil {
		return err
	}
	q, ok := conn.(interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	})
	if !ok {
		return errors.New("tenants: DropFleetRoles needs a connection that can query")
	}
	// The fleet name has no '_' nor LIKE wildcard, so the pattern is exact.
	rows, err := q.Query(ctx, `SELECT rolname FROM pg_catalog.pg_roles WHERE rolname LIKE $1 || '\_%'`, fleet)
	if err != nil {
		return fmt.Errorf("tenants: list roles of fleet %s: %w", fleet, err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("tenants: list roles of fleet %s: %w", fleet, err)
	}
	var errs []error
	for _, r := range roles {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
			errs = append(errs, fmt.Errorf("tenants: drop role %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
