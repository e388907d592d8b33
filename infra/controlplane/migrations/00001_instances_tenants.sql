-- +goose Up
-- Instances are PostgreSQL servers (or, for the local provider, databases on
-- one server) that hold tenant data.
CREATE TABLE instances (
    id               text PRIMARY KEY,
    provider         text NOT NULL CHECK (provider IN ('local', 'rds')),
    tier             text NOT NULL CHECK (tier IN ('shared', 'dedicated')),
    status           text NOT NULL DEFAULT 'creating'
                     CHECK (status IN ('creating', 'ready', 'failed', 'deleting', 'deleted')),
    status_reason    text NOT NULL DEFAULT '',
    -- Where to connect: host, port and the database that holds tenant data.
    host             text NOT NULL DEFAULT '',
    port             integer NOT NULL DEFAULT 5432,
    database_name    text NOT NULL DEFAULT '',
    -- The provider's own handle (an RDS DB instance identifier) and where the
    -- admin password lives (an RDS managed secret ARN); never the password.
    provider_ref     text NOT NULL DEFAULT '',
    secret_ref       text NOT NULL DEFAULT '',
    max_tenants      integer NOT NULL DEFAULT 500 CHECK (max_tenants > 0),
    max_connections  integer NOT NULL DEFAULT 100 CHECK (max_connections > 0),
    storage_bytes    bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Tenants are the fleet's customers; the row is the source of truth of
-- their route.
CREATE TABLE tenants (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    tier             text NOT NULL CHECK (tier IN ('shared', 'dedicated')),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'provisioning', 'active', 'failed', 'offboarding', 'offboarded')),
    status_reason    text NOT NULL DEFAULT '',
    instance_id      text REFERENCES instances (id),
    database_name    text NOT NULL DEFAULT '',
    schema_name      text NOT NULL DEFAULT '',
    role_name        text NOT NULL DEFAULT '',
    -- Bumped on every route change, so caches can tell old from new.
    route_version    bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_instance_idx ON tenants (instance_id) WHERE instance_id IS NOT NULL;

-- +goose Down
DROP TABLE tenants;
DROP TABLE instances;
