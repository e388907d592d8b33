-- +goose Up
-- The cost agent (agents/cost). cost_snapshots and cost_counters keep the
-- last reading of each instance's pg_stat_statements, so the next analysis
-- diffs the cumulative counters over its window.
CREATE TABLE cost_snapshots (
    instance_id  text PRIMARY KEY,
    taken_at     timestamptz NOT NULL,
    -- pg_stat_statements_info: a changed stats_reset or a grown dealloc
    -- means some statements of the window were lost.
    stats_reset  timestamptz,
    dealloc      bigint NOT NULL DEFAULT 0
);

CREATE TABLE cost_counters (
    instance_id      text NOT NULL,
    dbid             bigint NOT NULL,
    userid           bigint NOT NULL,
    queryid          bigint NOT NULL,
    calls            bigint NOT NULL,
    exec_ms          double precision NOT NULL,
    plan_ms          double precision NOT NULL,
    rows             bigint NOT NULL,
    shared_blks_hit  bigint NOT NULL,
    shared_blks_read bigint NOT NULL,
    PRIMARY KEY (instance_id, dbid, userid, queryid)
);

-- cost_reports is one analysis's result: per tenant, instance and fleet
-- usage and money (agents/cost.Report as JSON).
CREATE TABLE cost_reports (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    incomplete  boolean NOT NULL DEFAULT false,
    report      jsonb NOT NULL
);

-- cost_recommendations is the advice, one row per distinct change
-- (kind + key, e.g. create_index on a table's columns), naming every tenant
-- it helps. Re-analysis refreshes an open row's evidence; a dismissed or
-- applied row stays as it is.
CREATE TABLE cost_recommendations (
    id                 bigserial PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('create_index', 'drop_index', 'add_replica',
                       'remove_replica', 'resize', 'move_to_dedicated', 'move_to_shared')),
    key                text NOT NULL,
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'applied', 'dismissed')),
    tenants            text[] NOT NULL,
    statement          text NOT NULL DEFAULT '',
    cost_before        double precision NOT NULL DEFAULT 0,
    cost_after         double precision NOT NULL DEFAULT 0,
    monthly_saving_usd double precision NOT NULL DEFAULT 0,
    evidence           jsonb NOT NULL DEFAULT '{}',
    -- The fleet migration run that applied it.
    migration_run_id   bigint REFERENCES migration_runs (id) ON DELETE SET NULL,
    status_reason      text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, key)
);

-- A fleet migration run may roll out one DDL statement, run as each
-- tenant in its schema, instead of the tenant migration set (fleet cost
-- apply). Empty for ordinary runs.
ALTER TABLE migration_runs ADD COLUMN statement text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE migration_runs DROP COLUMN statement;
DROP TABLE cost_recommendations;
DROP TABLE cost_reports;
DROP TABLE cost_counters;
DROP TABLE cost_snapshots;
