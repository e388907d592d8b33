-- +goose Up
-- The cost agent's index advice (agents/cost: unused indexes, the HOT
-- veto): the last reading of each instance's pg_stat_user_indexes and
-- pg_stat_user_tables for the tenant schemas, so the next analysis diffs
-- idx_scan and the tables' writes over its window. Keyed by names (and
-- the index's oid, so a dropped and re-created index counts from zero).
CREATE TABLE cost_usage_snapshots (
    instance_id  text PRIMARY KEY,
    taken_at     timestamptz NOT NULL,
    -- pg_stat_database.stats_reset of the instance database: a change
    -- means the counters restarted.
    stats_reset  timestamptz
);

CREATE TABLE cost_index_counters (
    instance_id  text NOT NULL REFERENCES cost_usage_snapshots (instance_id) ON DELETE CASCADE,
    schema_name  text NOT NULL,
    index_name   text NOT NULL,
    index_oid    bigint NOT NULL,
    idx_scan     bigint NOT NULL,
    PRIMARY KEY (instance_id, schema_name, index_name)
);

CREATE TABLE cost_table_counters (
    instance_id   text NOT NULL REFERENCES cost_usage_snapshots (instance_id) ON DELETE CASCADE,
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    n_tup_ins     bigint NOT NULL,
    n_tup_upd     bigint NOT NULL,
    n_tup_del     bigint NOT NULL,
    n_tup_hot_upd bigint NOT NULL,
    seq_scan      bigint NOT NULL,
    idx_scan      bigint NOT NULL,
    PRIMARY KEY (instance_id, schema_name, table_name)
);

-- +goose Down
DROP TABLE cost_table_counters;
DROP TABLE cost_index_counters;
DROP TABLE cost_usage_snapshots;
