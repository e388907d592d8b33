// Package migrations migrates one tenant's schema to a version of the
// tenant schema migration set, and is shared by the provisioning agent (a new
// tenant goes to the latest version) and the fleet migration runner (a change
// rolled across every tenant, a few at a time per instance).
//
// The migration set is a directory of goose-format SQL files, embedded from
// this package by default. The SQL is unqualified: the [Migrator] runs it with
// search_path set to the tenant's schema and the role set to the tenant's
// role, so the same files serve every tenant and every object (the version
// table included) is owned by the tenant role. Each tenant keeps its own
// version table inside its schema and is guarded by its own advisory lock, so
// tenants of one database migrate in parallel and never wait on each other.
//
// See docs/tenant-migrations.md for how to add a migration, the locking model
// and the crash semantics.
package migrations
