-- +goose Up
-- isolation is how a tenant's application traffic is kept from its
-- neighbours (tenants.Isolation): pooled, on the application role's
-- connections scoped per transaction; strict, on connections logged in as
-- the tenant's own role. Part of the tenant's route: a change bumps
-- route_version.
ALTER TABLE tenants ADD COLUMN isolation text NOT NULL DEFAULT 'pooled'
    CHECK (isolation IN ('pooled', 'strict'));
-- The isolation an onboarding request asked for.
ALTER TABLE intake_requests ADD COLUMN isolation text NOT NULL DEFAULT 'pooled'
    CHECK (isolation IN ('pooled', 'strict'));

-- +goose Down
ALTER TABLE intake_requests DROP COLUMN isolation;
ALTER TABLE tenants DROP COLUMN isolation;
