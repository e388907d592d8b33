-- +goose Up
-- The Idempotency-Key a run was started with (POST /api/v1/migrations,
-- `fleet migrate up --idempotency-key`): a retried request finds the run it
-- started instead of starting a second one, across restarts of every
-- process. request_sha256 fingerprints the request (its spec with defaults,
-- without requested_by), so a key reused for another request is refused.
ALTER TABLE migration_runs
    ADD COLUMN idempotency_key text CHECK (idempotency_key <> ''),
    ADD COLUMN request_sha256  bytea,
    ADD CONSTRAINT migration_runs_idempotency_sha_check
        CHECK ((idempotency_key IS NULL) = (request_sha256 IS NULL));
CREATE UNIQUE INDEX migration_runs_idempotency_key
    ON migration_runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The reconciler's scan of unfinished runs (agents/migrate/reconcile.go).
CREATE INDEX migration_runs_running_idx ON migration_runs (id) WHERE status = 'running';

-- +goose Down
DROP INDEX migration_runs_running_idx;
DROP INDEX migration_runs_idempotency_key;
ALTER TABLE migration_runs
    DROP CONSTRAINT migration_runs_idempotency_sha_check,
    DROP COLUMN request_sha256,
    DROP COLUMN idempotency_key;
