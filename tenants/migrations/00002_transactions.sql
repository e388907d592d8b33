-- Booked money movements on accounts.

-- +goose Up
CREATE TABLE transactions (
    id         uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid          NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    amount     numeric(20,4) NOT NULL CHECK (amount > 0),
    currency   char(3)       NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    direction  text          NOT NULL CHECK (direction IN ('debit', 'credit')),
    booked_at  timestamptz   NOT NULL DEFAULT now(),
    reference  text          NOT NULL,
    CONSTRAINT transactions_account_reference_key UNIQUE (account_id, reference)
);

-- Statement queries: an account's movements, newest first.
CREATE INDEX transactions_account_booked_idx ON transactions (account_id, booked_at DESC);
-- Reporting and monitoring windows across all accounts.
CREATE INDEX transactions_booked_idx ON transactions (booked_at);

-- +goose Down
DROP TABLE transactions;
