// Package health is the fleet's health agent: the health:sweep of one
// instance and the pool watch over the pool statistics every process
// publishes. What it finds goes to the control plane (the latest health
// per instance and tenant, the sessions it terminated), to Prometheus
// (Collector) and to the alert engine, level-triggered: every pass
// observes every condition it checks.
//
// # The sweep
//
// One task per instance. Its sessions are the instance's admin sessions and
// only ever read catalogs and statistics views (search_path pg_catalog, a
// read-only transaction), plus pg_terminate_backend for the drain: no
// tenant object is touched, so no tenant-defined code (policies, triggers,
// functions, operators) can run in them. Per instance and pass:
//
//   - a ping with a short deadline (instance_down, which inhibits the
//     instance's tenant alerts and lists its tenants);
//   - one query over pg_stat_activity: sessions per tenant, the database's
//     and the server's totals against max_connections (connections_high),
//     sessions idle in a transaction past FLEET_IDLE_IN_TX_TIMEOUT, which
//     are terminated and recorded (idle_in_transaction_terminated), long
//     queries, and lock waits grouped by their root blocker
//     (blocking_chain, naming the root's tenant);
//   - pg_stat_replication where the instance has replicas, and the lag of
//     each ready catalog replica read on the replica itself, recorded in
//     its replicas row (replication_lag);
//   - one catalog query for every tenant of the instance at once: its
//     role, schema and grants as provisioning left them
//     (tenant_catalog_drift) and max(age(relfrozenxid)) over its schema
//     (xid_age_high). The cost grows with instances, not tenants;
//   - the instance's capacity as placement computes it (capacity_high).
//
// Sessions of a shared pool log in as the application role: the sweep
// attributes them to a tenant by their application_name, which the
// tenants package sets transaction-locally to the tenant's role in the
// scoping statement. Sessions logged in as a tenant's own role are
// attributed by user name.
//
// # The pool watch
//
// Every FLEET_POOL_WATCH_INTERVAL it reads every process's published
// tenants.ProcessStats from Redis (untrusted: validated, bounded) and
// raises pool_exhausted for a pool that has waiters while every slot
// batch work may use is held for longer than FLEET_POOL_EXHAUSTED_AFTER,
// whose callers time out acquiring, or whose tenant sits at its in-flight
// cap with waiters. A pool that granted nothing for a whole pass while
// callers waited is wedged: the watch publishes a drain of its instance
// (tenants.PublishDrain), which every process obeys.
package health
