-- +goose Up
-- migration_runs are fleet migration runs: one schema change rolled across
-- many tenants, a few at a time per instance (agents/migrate).
CREATE TABLE migration_runs (
    id                bigserial PRIMARY KEY,
    -- running until every tenant is succeeded or failed; then succeeded
    -- (all of them) or failed (some); stopped when a canary tenant failed.
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'succeeded', 'failed', 'stopped')),
    -- canary while only the canary tenants are enqueued, then main.
    phase             text NOT NULL DEFAULT 'main' CHECK (phase IN ('canary', 'main')),
    status_reason     text NOT NULL DEFAULT '',
    target_version    bigint NOT NULL CHECK (target_version > 0),
    -- The --instance filter, empty for every instance.
    instance_id       text NOT NULL DEFAULT '',
    concurrency       integer NOT NULL CHECK (concurrency > 0),
    canary            integer NOT NULL DEFAULT 0 CHECK (canary >= 0),
    cpu_threshold     double precision NOT NULL,
    lag_threshold_ms  bigint NOT NULL,
    requested_by      text NOT NULL DEFAULT '',
    -- Bumped by every resume, so the tasks it enqueues get fresh ids.
    resumes           integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);

-- migration_run_tenants is every tenant's result within a run.
CREATE TABLE migration_run_tenants (
    run_id          bigint NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    tenant_id       text NOT NULL,
    -- The tenant's instance when the run started, for per-instance counts.
    instance_id     text NOT NULL,
    -- Position in the run: canary tenants come first.
    ordinal         integer NOT NULL,
    canary          boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'paused', 'succeeded', 'failed')),
    -- Why the tenant is paused or waiting (throttle, no free slot, retry).
    reason          text NOT NULL DEFAULT '',
    -- Bumped by every retry of the run that re-runs this tenant, so its
    -- task gets a fresh id.
    round           integer NOT NULL DEFAULT 0,
    version_before  bigint,
    version_after   bigint,
    attempts        integer NOT NULL DEFAULT 0,
    duration_ms     bigint,
    error           text NOT NULL DEFAULT '',
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, tenant_id)
);
-- The completion check: is any tenant of the run unfinished?
CREATE INDEX migration_run_tenants_unfinished_idx
    ON migration_run_tenants (run_id, canary) WHERE status NOT IN ('succeeded', 'failed');

-- +goose Down
DROP TABLE migration_run_tenants;
DROP TABLE migration_runs;
