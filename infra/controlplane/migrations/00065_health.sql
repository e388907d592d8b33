-- +goose Up
-- instance_health is the latest health sweep of each instance (agents/health):
-- one row per instance, overwritten by every sweep. instance_id is not a
-- foreign key: a sweep racing an instance's removal must not fail.
CREATE TABLE instance_health (
    instance_id        text PRIMARY KEY,
    checked_at         timestamptz NOT NULL,
    up                 boolean NOT NULL,
    ping_seconds       double precision NOT NULL DEFAULT 0,
    -- Why the instance is down (an error class, never a connection string).
    error              text NOT NULL DEFAULT '',
    -- Sessions on the instance's database, and on the whole server.
    connections        integer NOT NULL DEFAULT 0,
    server_connections integer NOT NULL DEFAULT 0,
    max_connections    integer NOT NULL DEFAULT 0,
    idle_in_transaction integer NOT NULL DEFAULT 0,
    long_running       integer NOT NULL DEFAULT 0,
    blocked            integer NOT NULL DEFAULT 0,
    capacity_ratio     double precision NOT NULL DEFAULT 0,
    -- The rest of the report: blocking chains, replicas, long queries.
    details            jsonb NOT NULL DEFAULT '{}'
);

-- tenant_health is the latest per-tenant part of its instance's sweep.
CREATE TABLE tenant_health (
    tenant_id    text PRIMARY KEY,
    instance_id  text NOT NULL,
    checked_at   timestamptz NOT NULL,
    connections  integer NOT NULL DEFAULT 0,
    xid_age      bigint NOT NULL DEFAULT 0,
    -- Whether role, schema and grants are as provisioning left them, and
    -- what differs when not.
    catalog_ok   boolean NOT NULL,
    problems     text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX tenant_health_instance_idx ON tenant_health (instance_id);

-- health_drains records each session the sweep terminated for sitting idle
-- in a transaction past FLEET_IDLE_IN_TX_TIMEOUT. No query text is kept.
CREATE TABLE health_drains (
    id            bigserial PRIMARY KEY,
    instance_id   text NOT NULL,
    tenant_id     text NOT NULL DEFAULT '',
    pid           integer NOT NULL,
    user_name     text NOT NULL,
    idle_seconds  double precision NOT NULL,
    xact_seconds  double precision NOT NULL,
    terminated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX health_drains_instance_idx ON health_drains (instance_id, terminated_at DESC);

-- +goose Down
DROP TABLE health_drains;
DROP TABLE tenant_health;
DROP TABLE instance_health;
