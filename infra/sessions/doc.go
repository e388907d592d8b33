// Package sessions gives the fleet its sessions on instances, of two kinds
// that never mix. Admin sessions (the provider's connector: the local
// superuser, the RDS master user) read catalogs and statistics views and
// run admin DDL: roles, schemas, grants. Tenant sessions log in as one
// tenant's own role, for every piece of fleet work that touches a tenant's
// objects: tenant schema migrations today, EXPLAIN and batch jobs next.
//
// Tenants own their objects and can attach code to them (row-level-security
// policies, triggers, rules, functions the planner calls). A session that
// logged in as an admin and switched role would run that code with a RESET
// ROLE away from superuser; a session that logged in as the tenant role,
// which has no attribute beyond LOGIN and is a member of no other role, has
// nowhere to go.
//
// Passwords are derived, not stored: HMAC-SHA256 of the role name under the
// fleet's secret key. Every worker derives the same password, so enabling a
// login is idempotent and two workers racing to enable it agree; only a
// SCRAM-SHA-256 verifier of it is ever sent to the server.
package sessions
