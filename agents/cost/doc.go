// Package cost is the cost agent: it attributes each instance's query time
// to its tenants from pg_stat_statements, prices it with a configurable
// price table, and advises indexes whose benefit it has verified with
// HypoPG hypothetical indexes, measured as each tenant in the tenant's own
// schema, and advises adding a read replica to a loaded read-mostly
// instance or removing an idle one. It only reads and advises; `fleet cost
// apply` rolls an index out through the fleet migration runner
// (agents/migrate), and creates or removes a replica through the provider
// (ApplyReplica).
//
// Sessions follow the fleet's rule (infra/sessions): pg_stat_statements,
// pg_stat_statements_info and the storage of each schema are read through
// the admin session (statistics views and catalogs only); every EXPLAIN and
// every hypothetical index runs on a pinned session logged in as the
// tenant's own role with search_path set to its schema, because tenants own
// their tables and may have planted policies and functions on them.
//
// See docs/cost.md.
package cost
