-- +goose Up
-- The fleet's secret key when FLEET_SECRET_KEY is not set (local provider
-- only): generated once, so every process of the fleet derives the same
-- tenant login passwords. A key kept beside the data it protects protects
-- it no better than the database's own access control: production sets
-- FLEET_SECRET_KEY.
CREATE TABLE fleet_keys (
    name        text PRIMARY KEY,
    key         bytea NOT NULL CHECK (length(key) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON fleet_keys FROM PUBLIC;

-- +goose Down
DROP TABLE fleet_keys;
