-- +goose Up
-- intake_requests is the onboarding outbox: every accepted onboarding request
-- (a Jira issue, a generic ticket, an API or CLI call) is stored here before
-- its tenant:onboard task is enqueued, so a wiped Redis loses nothing: the
-- reconciler re-enqueues every request that is not finished.
CREATE TABLE intake_requests (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL CHECK (source IN ('jira', 'ticket', 'api', 'cli')),
    -- The webhook delivery id (X-Atlassian-Webhook-Identifier, webhook-id)
    -- or an API Idempotency-Key: a redelivery of the same message.
    delivery_id   text CHECK (delivery_id <> ''),
    -- The ticket behind the request (Jira issue key, generic ticket_id): a
    -- ticket onboards once, however often it is updated.
    ticket_key    text CHECK (ticket_key <> ''),
    tenant_id     text NOT NULL,
    name          text NOT NULL,
    tier          text NOT NULL CHECK (tier IN ('shared', 'dedicated')),
    requested_by  text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'enqueued', 'done', 'failed')),
    error         text NOT NULL DEFAULT '',
    -- Enqueues that put a new task on the queue (the first one and every
    -- re-enqueue by the reconciler after Redis lost the task).
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE UNIQUE INDEX intake_requests_delivery_key
    ON intake_requests (source, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE UNIQUE INDEX intake_requests_ticket_key
    ON intake_requests (source, ticket_key) WHERE ticket_key IS NOT NULL;
-- At most one unfinished onboarding per tenant: a second request for a
-- tenant being onboarded joins the first one.
CREATE UNIQUE INDEX intake_requests_inflight_tenant_key
    ON intake_requests (tenant_id) WHERE status IN ('pending', 'enqueued');
-- The reconciler's scan.
CREATE INDEX intake_requests_unfinished_idx
    ON intake_requests (updated_at) WHERE status IN ('pending', 'enqueued');

-- audit_log records who asked the fleet to do what, and what came of it
-- (SOC 2). Rows are only ever inserted.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    tenant_id  text NOT NULL DEFAULT '',
    ticket     text NOT NULL DEFAULT '',
    outcome    text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at) WHERE tenant_id <> '';
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE intake_requests;
