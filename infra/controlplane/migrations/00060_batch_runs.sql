-- +goose Up
-- batch_runs records every run of a tenant batch job (agents/batch): one row
-- per job kind, tenant and staggered slot, so a retried or re-enqueued task
-- of one slot updates its row instead of adding one. tenant_id is not a
-- foreign key: the history outlives a purged tenant.
CREATE TABLE batch_runs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    tenant_id    text NOT NULL,
    -- The tenant's run time within the kind's period (UTC).
    slot         timestamptz NOT NULL,
    outcome      text NOT NULL DEFAULT 'running'
                 CHECK (outcome IN ('running', 'succeeded', 'failed', 'skipped')),
    -- How many times the run started (task retries).
    attempts     integer NOT NULL DEFAULT 1,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    error        text NOT NULL DEFAULT '',
    UNIQUE (kind, tenant_id, slot)
);
CREATE INDEX batch_runs_started_idx ON batch_runs (started_at DESC, id DESC);
CREATE INDEX batch_runs_tenant_idx ON batch_runs (tenant_id, started_at DESC);

-- compliance_snapshots holds what the compliance-snapshot job saw of a
-- tenant's tables in one run: each table's total size and exact row count,
-- read as the tenant.
CREATE TABLE compliance_snapshots (
    run_id      bigint NOT NULL REFERENCES batch_runs (id) ON DELETE CASCADE,
    tenant_id   text NOT NULL,
    table_name  text NOT NULL,
    size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
    row_count   bigint NOT NULL CHECK (row_count >= 0),
    taken_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, table_name)
);
CREATE INDEX compliance_snapshots_tenant_idx ON compliance_snapshots (tenant_id, taken_at DESC);

-- +goose Down
DROP TABLE compliance_snapshots;
DROP TABLE batch_runs;
