-- Accounts held by the tenant's customers. Unqualified names: the migrator
-- runs this with search_path set to the tenant's schema and the tenant role.

-- +goose Up
CREATE TABLE accounts (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    external_ref text        NOT NULL,
    holder_name  text        NOT NULL,
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL DEFAULT 'active'
                             CHECK (status IN ('pending', 'active', 'frozen', 'closed')),
    opened_at    timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_external_ref_key UNIQUE (external_ref),
    CONSTRAINT accounts_closed_after_opened CHECK (closed_at IS NULL OR closed_at >= opened_at)
);

CREATE INDEX accounts_status_idx ON accounts (status) WHERE status <> 'closed';

-- +goose Down
DROP TABLE accounts;
