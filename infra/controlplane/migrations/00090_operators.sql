-- +goose Up
-- The fleet's named operators (agents/operators, infra/httpapi): people who
-- log in to the dashboard, API tokens for scripts, browser sessions, and the
-- failed logins the rate limit counts. No secret is stored in the clear:
-- passwords as bcrypt hashes, tokens and session ids as SHA-256 digests.
CREATE TABLE operator_users (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('viewer', 'operator')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A disabled user can no longer log in; its sessions are deleted.
    disabled_at   timestamptz
);

CREATE TABLE api_tokens (
    name         text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator')),
    -- sha256 of the token: the token has 256 random bits, so a fast hash is
    -- enough (nothing to brute-force), and it is looked up by digest.
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE operator_sessions (
    -- sha256 of the session id the cookie carries.
    id_sha256    bytea PRIMARY KEY,
    user_name    text NOT NULL REFERENCES operator_users (name) ON DELETE CASCADE,
    -- Sent back in every state-changing request of the session.
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- The absolute expiry; the idle one is last_seen_at plus the idle
    -- timeout, checked on every use.
    expires_at   timestamptz NOT NULL
);
CREATE INDEX operator_sessions_user ON operator_sessions (user_name);
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at);

-- One row per failed login, per key ("user:NAME", "addr:IP"); the rate limit
-- counts the rows of a key within its window. Old rows are pruned at each
-- failure.
CREATE TABLE login_failures (
    key text NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE operator_sessions;
DROP TABLE api_tokens;
DROP TABLE operator_users;
