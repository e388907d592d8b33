-- Append-only record of who did what, for SOC 2 evidence.

-- +goose Up
CREATE TABLE audit_trail (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL,
    entity    text        NOT NULL,
    entity_id text        NOT NULL,
    details   jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_trail_entity_idx ON audit_trail (entity, entity_id, at DESC);
CREATE INDEX audit_trail_at_idx ON audit_trail USING brin (at);

-- +goose Down
DROP TABLE audit_trail;
