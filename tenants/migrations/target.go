package migrations

import (
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// VersionTable is the name of the version table the migrator keeps inside
// each tenant's schema (goose's layout: one row per applied version).
const VersionTable = "goose_db_version"

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1: longer names are silently
// truncated by the server, which could make two tenants collide.
const maxIdentifierLen = 63

// Target names the tenant a migration runs for: the schema that holds its
// tables and the role that owns them. Both are raw names (not quoted); the
// migrator quotes them itself.
type Target struct {
	// Schema is the tenant's schema, for example "t_acme_bank".
	Schema string
	// Role is the role that owns Schema, for example "tf_t_acme_bank". The
	// migrator's pool must log in as this role.
	Role string
}

// validate rejects empty or over-long names before any SQL runs.
func (t Target) validate() error {
	for _, f := range []struct{ what, name string }{{"schema", t.Schema}, {"role", t.Role}} {
		if f.name == "" {
			return fmt.Errorf("%w: empty %s name", ErrInvalidTarget, f.what)
		}
		if len(f.name) > maxIdentifierLen {
			return fmt.Errorf("%w: %s name %q longer than %d bytes", ErrInvalidTarget, f.what, f.name, maxIdentifierLen)
		}
	}
	return nil
}

// searchPath is the search_path value for the tenant: its schema only, so
// unqualified names in migrations resolve and create there.
func (t Target) searchPath() string { return pgx.Identifier{t.Schema}.Sanitize() }

// versionTable is the schema-qualified, quoted version table name.
func (t Target) versionTable() string { return pgx.Identifier{t.Schema, VersionTable}.Sanitize() }

// lockID is the key of the tenant's session advisory lock. Advisory locks
// are scoped to the current database, so hashing the schema name is enough
// to give each tenant of a database its own lock.
func (t Target) lockID() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("tenantfleet/tenant-migrations/" + t.Schema))
	return int64(h.Sum64()) //nolint:gosec // a hash, wrap-around is intended
}
