package health

import (
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// catalogSQL checks every tenant of the instance at once, from the
// catalogs only: whether its role exists and is a plain role (no
// superuser, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS or INHERIT)
// member of no other role, whether its schema exists, is owned by it and
// grants PUBLIC nothing, whether the application role is a member of it,
// and the oldest unfrozen transaction id over the schema's tables (and
// their TOAST tables). The per-schema ages are aggregated once over
// pg_class and hash-joined, so the query costs one pass over the catalog
// whatever the number of tenants. $1-$3: tenant ids, roles, schemas; $4
// the application role.
const catalogSQL = `WITH expected AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS e(tenant, role, schema)
), xid AS (
	SELECT c.relnamespace AS nsp,
		max(greatest(pg_catalog.age(c.relfrozenxid), coalesce(pg_catalog.age(t.relfrozenxid), 0)))::int8 AS age
	FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid
	WHERE c.relkind IN ('r', 'm') GROUP BY c.relnamespace
), memberships AS (
	SELECT member, count(*) AS n FROM pg_catalog.pg_auth_members GROUP BY member
), app AS (
	SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $4
)
SELECT e.tenant,
	r.oid IS NOT NULL,
	coalesce(r.rolsuper OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls OR r.rolinherit, false),
	coalesce(m.n, 0)::int,
	n.oid IS NOT NULL,
	coalesce(n.nspowner = r.oid, false),
	coalesce(EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) x WHERE x.grantee = 0), false),
	coalesce(EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members am, app
		WHERE am.roleid = r.oid AND am.member = app.oid), false),
	coalesce(x.age, 0)
FROM expected e
LEFT JOIN pg_catalog.pg_roles r ON r.rolname = e.role
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = e.schema
LEFT JOIN xid x ON x.nsp = n.oid
LEFT JOIN memberships m ON m.member = r.oid`

// catalogArgs are catalogSQL's arguments for tenants.
func catalogArgs(list []controlplane.Tenant, appRole string) []any {
	ids := make([]string, len(list))
	roles := make([]string, len(list))
	schemas := make([]string, len(list))
	for i, t := range list {
		ids[i], roles[i], schemas[i] = t.ID, t.Role, t.Schema
	}
	return []any{ids, roles, schemas, appRole}
}

// catalogRow is one tenant's line of catalogSQL, turned into its health.
func scanCatalog(rows pgx.Rows) (map[string]controlplane.TenantHealth, error) {
	out := map[string]controlplane.TenantHealth{}
	for rows.Next() {
		var (
			id                                        string
			roleOK, elevated, schemaOK, owned, public bool
			appMember                                 bool
			memberOf                                  int
			age                                       int64
		)
		if err := rows.Scan(&id, &roleOK, &elevated, &memberOf, &schemaOK, &owned, &public, &appMember, &age); err != nil {
			return nil, err
		}
		var problems []string
		add := func(bad bool, what string) {
			if bad {
				problems = append(problems, what)
			}
		}
		add(!roleOK, "role missing")
		add(elevated, "role has attributes beyond a plain role")
		add(memberOf > 0, "role is a member of another role")
		add(!schemaOK, "schema missing")
		add(schemaOK && roleOK && !owned, "schema not owned by the tenant role")
		add(public, "schema grants PUBLIC a privilege")
		add(roleOK && !appMember, "application role is not a member of the tenant role")
		out[id] = controlplane.TenantHealth{TenantID: id, XIDAge: age, CatalogOK: len(problems) == 0, Problems: problems}
	}
	return out, rows.Err()
}
