-- +goose Up
-- prepared_at records when the provisioning agent readied an instance's
-- tenant database (tenants.PrepareDatabase), so onboardings skip it.
ALTER TABLE instances ADD COLUMN prepared_at timestamptz;

-- tenant_onboarding is the progress record of the tenant:onboard saga: one
-- row per tenant being (or once) onboarded, naming the intake request that
-- drives it and the last step that completed. It lets instance:create wake
-- the tenants waiting for an instance, and tells an operator where a stuck
-- onboarding is.
CREATE TABLE tenant_onboarding (
    tenant_id   text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    request_id  bigint NOT NULL,
    step        text NOT NULL DEFAULT '',
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- provision_leases lets one task at a time work on a tenant (onboarding or
-- offboarding); a crashed task's lease expires at until.
CREATE TABLE provision_leases (
    tenant_id  text PRIMARY KEY,
    owner      text NOT NULL,
    until      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE provision_leases;
DROP TABLE tenant_onboarding;
ALTER TABLE instances DROP COLUMN prepared_at;
