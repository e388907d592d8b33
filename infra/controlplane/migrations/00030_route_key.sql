-- +goose Up
-- route_key holds the fleet's secret key for the MACs of the routes cached
-- in Redis (tenants.Router): a route read from Redis is used only if its MAC
-- verifies under this key, so whoever can write to Redis, but cannot read
-- the control plane, cannot redirect tenant traffic. One row. The key is 32
-- bytes from PostgreSQL's strong random source (gen_random_uuid), hashed.
-- Rotate it with
--   UPDATE route_key SET key = sha256(gen_random_uuid()::text::bytea || gen_random_uuid()::text::bytea), rotated_at = now();
-- routers reload it when a MAC fails to verify.
CREATE TABLE route_key (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    key         bytea NOT NULL CHECK (length(key) >= 32),
    rotated_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON route_key FROM PUBLIC;
INSERT INTO route_key (key) VALUES (sha256(gen_random_uuid()::text::bytea || gen_random_uuid()::text::bytea));

-- +goose Down
DROP TABLE route_key;
