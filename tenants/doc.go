// Package tenants is the data plane of tenantfleet: what application code
// imports to reach a tenant's data, and only that tenant's data, fast, with
// no noisy neighbour able to starve it.
//
// # Identity
//
// Tenant ids are slugs (^[a-z][a-z0-9-]{1,38}[a-z0-9]$, ValidateID, which
// returns an *InvalidIDError naming the broken rule). NamesFor derives the
// schema ("t_acme_bank"), the NOLOGIN tenant role carrying the fleet prefix
// ("tf_t_acme_bank") and the application role ("tf_app"): deterministic,
// at most 63 bytes, collision-free, and always quoted with
// pgx.Identifier.Sanitize.
//
// # Isolation
//
// PrepareDatabase, EnsureTenant, RevokeTenant and DropTenant are the
// idempotent DDL the provisioning agent runs: each tenant role owns its
// schema; the application role (LOGIN NOINHERIT) is a member of every
// tenant role of its instance, so it reads no tenant data until a
// transaction switches role; PUBLIC has no CONNECT, TEMPORARY or CREATE on
// schema public. Known limit: SQL injected inside a tenant's transaction on
// a shared instance could switch to another tenant's role (the application
// role may switch to any of them). Regulated tenants therefore go
// dedicated: their own database, which holds no other tenant.
//
// # Routing
//
// A RouteSource reads routes from the source of truth: the fleet's is
// controlplane.Store, which owns the control plane's tenants and
// instances tables (this package holds none of the control plane's
// internals). Router.Resolve answers from an in-process cache,
// then the tenant's Redis hash, then Postgres (read-through); Publish and
// Invalidate announce a change on a Redis channel and every started Router
// drops its entry. A wiped Redis loses nothing.
//
// Redis is not trusted with where traffic goes: a route hash read from
// Redis is used only if its role and schema are the ones NamesFor derives
// from the tenant id and its HMAC verifies under the fleet's route key,
// which lives in the control plane (RouteSource.RouteKey), never in Redis. A
// hash that fails is never used: the Router logs a warning, counts it
// (Router.Collector), serves the route from Postgres and rewrites the
// hash. An in-process cache hit runs no check.
//
// # Pools and admission
//
// Pools holds one pgxpool per shared instance and one per dedicated
// tenant, created lazily and closed when idle. WithTenant runs a function
// in one transaction whose BEGIN and transaction-local
// set_config('role'/'search_path', …, true) travel in one round trip;
// Exec and QueryRow pipeline the scoping and the statement together.
// Nothing scoped outlives the transaction. In front of each pool a fair
// gate caps each tenant's connections, serves the tenant holding fewest
// first, admits Interactive before Batch work (WithPriority) and keeps a
// connection for interactive work, and fails after the acquire deadline
// with a *PoolExhaustedError (ErrPoolExhausted) that WriteUnavailable maps
// to 503 + Retry-After.
//
// # HTTP
//
// Middleware puts the request's tenant in its context. The tenant id of a
// request (the X-Tenant-ID header or a path value) is a claim, not a
// proof: MiddlewareConfig.Authorize, which the application must supply,
// decides whether the authenticated request may act for that tenant.
// Middleware panics when it is built without one; a refused request gets
// 403 before any lookup or SQL.
//
// # Statistics and drain
//
// Pools.Collector exposes in-flight, waiting, exhaustion and acquire-wait
// figures per pool and tenant to Prometheus; Start publishes them to Redis
// (StatsKey) with a TTL, and obeys drain messages (Drain) that reset an
// instance's pools in every process.
package tenants
