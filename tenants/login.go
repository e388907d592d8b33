package tenants

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// ErrInvalidVerifier marks a password verifier that is not a SCRAM-SHA-256
// verifier.
var ErrInvalidVerifier = errors.New("tenants: invalid password verifier")

// scramVerifier is the form of a SCRAM-SHA-256 verifier as PostgreSQL
// stores it: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>,
// base64. Nothing else may reach the ALTER ROLE below.
var scramVerifier = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]{4,7}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$`)

// EnableLogin lets the tenant's role log in with the password whose
// SCRAM-SHA-256 verifier is given (computed by the caller, so the password
// itself never reaches the server's statement log), lets it connect to the
// current database, and makes its schema the role's default search_path.
//
// This is how the fleet's own per-tenant work (migrations, and anything
// else that can run tenant-defined code) gets a session that holds only the
// tenant's privileges: the role is a member of no other role and has no
// attribute beyond LOGIN (EnsureTenant), so RESET ROLE or SET ROLE inside it
// leads nowhere. conn is an admin connection to the tenant's database;
// EnsureTenant must have run. It is idempotent.
func EnableLogin(ctx context.Context, conn Execer, n Names, verifier string) error {
	if err := n.validate(); err != nil {
		return err
	}
	if !scramVerifier.MatchString(verifier) {
		return ErrInvalidVerifier
	}
	role := pgx.Identifier{n.Role}.Sanitize()
	var db string
	if err := queryRow(ctx, conn, "SELECT current_database()").Scan(&db); err != nil {
		return fmt.Errorf("tenants: enable login of %s: %w", n.TenantID, err)
	}
	for _, stmt := range []string{
		// The verifier matched scramVerifier: no quote can be in it.
		"ALTER ROLE " + role + " LOGIN PASSWORD '" + verifier + "'",
		"ALTER ROLE " + role + " SET search_path = " + pgx.Identifier{n.Schema}.Sanitize(),
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + role,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			// The error names the statement's position, never its text.
			return fmt.Errorf("tenants: enable login of %s: %w", n.TenantID, err)
		}
	}
	return nil
}

// DisableLogin takes the tenant role's LOGIN attribute and password away and
// ends its open sessions on the server. It is a no-op for a missing role.
// conn is an admin connection.
func DisableLogin(ctx context.Context, conn Execer, n Names) error {
	if err := n.validate(); err != nil {
		return err
	}
	exists, err := roleExists(ctx, conn, n.Role)
	if err != nil || !exists {
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{n.Role}.Sanitize()+" NOLOGIN PASSWORD NULL"); err != nil {
		return fmt.Errorf("tenants: disable login of %s: %w", n.TenantID, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
		WHERE usename = $1 AND pid <> pg_backend_pid()`, n.Role); err != nil {
		return fmt.Errorf("tenants: end sessions of %s: %w", n.TenantID, err)
	}
	return nil
}

// queryRow runs a one-row query on conn, which must be able to query.
func queryRow(ctx context.Context, conn Execer, sql string, args ...any) pgx.Row {
	q, ok := conn.(interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	})
	if !ok {
		return errRow{errors.New("tenants: connection cannot query")}
	}
	return q.QueryRow(ctx, sql, args...)
}

// errRow is a pgx.Row that fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// ErrNotTenantSession means a session that was to run fleet work on a
// tenant's objects is not logged in as that tenant's role alone: it is
// another user, a superuser, a role with more than LOGIN, or a member of
// another role it could switch to. Such a session must never run code the
// tenant may have planted.
var ErrNotTenantSession = errors.New("tenants: session is not the tenant's own login")

// tenantSessionSQL reads what the session could become: who logged in, and
// whether that role has any attribute or membership beyond a plain login.
const tenantSessionSQL = `SELECT session_user::text,
       r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls,
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid)
FROM pg_catalog.pg_roles r WHERE r.rolname = session_user`

// tenantSessionKey marks, in a connection's CustomData, the role the
// session was verified to be; a physical connection's login never changes.
const tenantSessionKey = "tenantfleet/tenant-session"

// VerifyTenantSession checks that conn logged in as role and can become
// nothing more (ErrNotTenantSession otherwise). It reads only catalogs. The
// answer is remembered on the physical connection, so only the first call
// on a connection costs a round trip.
func VerifyTenantSession(ctx context.Context, conn *pgx.Conn, role string) error {
	data := conn.PgConn().CustomData()
	if data[tenantSessionKey] == role {
		return nil
	}
	var user string
	var privileged, member bool
	if err := conn.QueryRow(ctx, tenantSessionSQL).Scan(&user, &privileged, &member); err != nil {
		return fmt.Errorf("tenants: verify session of %s: %w", role, err)
	}
	switch {
	case user != role:
		return fmt.Errorf("%w: logged in as %s, not %s", ErrNotTenantSession, user, role)
	case privileged:
		return fmt.Errorf("%w: role %s has attributes beyond LOGIN", ErrNotTenantSession, role)
	case member:
		return fmt.Errorf("%w: role %s is a member of another role", ErrNotTenantSession, role)
	}
	data[tenantSessionKey] = role
	return nil
}
