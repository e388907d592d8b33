-- +goose Up
-- offboard_requests is the offboarding outbox: every offboarding (archive or
-- drop the tenant's data) and every purge of an offboarded tenant is stored
-- here, in the transaction that marks the tenant offboarding and writes the
-- audit entry, before its task is enqueued. The reconciler re-enqueues every
-- request that is not finished, so a wiped Redis loses none (agents/offboard).
CREATE TABLE offboard_requests (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    -- archive: rename the schema aside; drop: delete it (and a dedicated
    -- tenant's instance) with every archive and the role; purge: the same
    -- for a tenant already offboarded.
    action        text NOT NULL CHECK (action IN ('archive', 'drop', 'purge')),
    requested_by  text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'enqueued', 'done', 'failed')),
    error         text NOT NULL DEFAULT '',
    -- Enqueues that put a new task on the queue.
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
-- At most one unfinished offboarding or purge per tenant: a repeat joins it.
CREATE UNIQUE INDEX offboard_requests_inflight_tenant_key
    ON offboard_requests (tenant_id) WHERE status IN ('pending', 'enqueued');
-- The reconciler's scan.
CREATE INDEX offboard_requests_unfinished_idx
    ON offboard_requests (updated_at) WHERE status IN ('pending', 'enqueued');
CREATE INDEX offboard_requests_tenant_idx ON offboard_requests (tenant_id, id);

-- tenant_archives records every schema an offboarding renamed aside, so a
-- re-onboarding can restore it and a purge can drop it. The name is chosen
-- and stored before the rename, so a retried offboarding renames to the same
-- name.
CREATE TABLE tenant_archives (
    id                   bigserial PRIMARY KEY,
    tenant_id            text NOT NULL REFERENCES tenants (id),
    offboard_request_id  bigint NOT NULL UNIQUE REFERENCES offboard_requests (id),
    instance_id          text NOT NULL,
    database_name        text NOT NULL,
    schema_name          text NOT NULL,
    -- Set when the offboarding finished with the schema renamed.
    archived_at          timestamptz,
    -- The intake request restoring it (claimed), and when it did.
    restore_request_id   bigint,
    restored_at          timestamptz,
    -- Set when a drop or purge dropped it.
    purged_at            timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_archives_tenant_idx ON tenant_archives (tenant_id, id);

-- restore asks a re-onboarding of an offboarded tenant to bring its latest
-- archived schema back instead of starting with a fresh one.
ALTER TABLE intake_requests ADD COLUMN restore boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE intake_requests DROP COLUMN restore;
DROP TABLE tenant_archives;
DROP TABLE offboard_requests;
