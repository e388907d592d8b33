-- +goose Up
-- replicas are the read replicas of an instance: catalog entries of their
-- instance (infra/controlplane/replicas.go). The migration throttle and the
-- health agent read their lag; tenants.Pools routes a tenant's read-only
-- work to a ready one. Removing the instance row removes its replicas'.
CREATE TABLE replicas (
    id              text PRIMARY KEY,
    instance_id     text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- The provider's handle: the RDS DB instance identifier, or the local
    -- provider's standby reference.
    provider_ref    text NOT NULL DEFAULT '',
    host            text NOT NULL DEFAULT '',
    port            integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'creating'
                    CHECK (status IN ('creating', 'ready', 'failed', 'deleting', 'deleted')),
    status_reason   text NOT NULL DEFAULT '',
    role            text NOT NULL DEFAULT 'read' CHECK (role IN ('read')),
    -- The last lag reading (health sweep): NULL until one was taken, or
    -- when the replica could not be read (lag_error says why).
    lag_seconds     double precision,
    lag_checked_at  timestamptz,
    lag_error       text NOT NULL DEFAULT '',
    -- The tenants' cumulative pg_stat_statements calls on the replica at
    -- the last cost analysis, so the next one diffs its window.
    read_calls      bigint,
    read_calls_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX replicas_instance_idx ON replicas (instance_id);

-- +goose Down
DROP TABLE replicas;
