-- +goose Up
-- Alerts (agents/alerts): one row per episode of a condition. While a
-- condition is true its row is open (resolved_at IS NULL); the partial
-- unique index makes "one open alert per dedup key" hold across every
-- fleet process, so two processes observing the same condition upsert the
-- same row. Resolved rows are the history.
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    dedup_key        text        NOT NULL CHECK (dedup_key <> ''),
    kind             text        NOT NULL CHECK (kind <> ''),
    subject          text        NOT NULL CHECK (subject <> ''),
    instance_id      text        NOT NULL DEFAULT '',
    tenant_id        text        NOT NULL DEFAULT '',
    severity         text        NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    summary          text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}',
    -- affected_tenants: the tenants an instance-level incident affects, as
    -- its checker reported them (the tenants of alerts it inhibits are
    -- added when read).
    affected_tenants text[]      NOT NULL DEFAULT '{}',
    -- inhibited_by: the instance_down alert of the same instance that
    -- muted this tenant-level alert (kept after it resolves, so the
    -- incident keeps listing the tenant; only an open one mutes).
    inhibited_by     bigint      REFERENCES alerts (id) ON DELETE SET NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    -- notified_at: the last trigger or repeat handed to the sinks; NULL
    -- while the alert has never been notified (muted from the start).
    notified_at      timestamptz,
    notifications    integer     NOT NULL DEFAULT 0,
    acked_at         timestamptz,
    acked_by         text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open_dedup_key ON alerts (dedup_key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_open_instance ON alerts (instance_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_started ON alerts (started_at DESC);

-- Silences mute notifications of the alerts whose subject (and kind, when
-- set) match until ends_at; the alerts are still recorded.
CREATE TABLE alert_silences (
    id         bigserial PRIMARY KEY,
    subject    text        NOT NULL CHECK (subject <> ''),
    kind       text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT '',
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    ends_at    timestamptz NOT NULL CHECK (ends_at > created_at)
);
CREATE INDEX alert_silences_subject ON alert_silences (subject, ends_at);

-- The notification outbox: one row per alert event and sink, written in
-- the transaction that changed the alert, delivered with retries by any
-- fleet process (claimed with a lease, so a crashed deliverer's rows are
-- taken again).
CREATE TABLE alert_notifications (
    id              bigserial PRIMARY KEY,
    alert_id        bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    sink            text        NOT NULL CHECK (sink <> ''),
    event           text        NOT NULL CHECK (event IN ('trigger', 'repeat', 'acknowledge', 'resolve', 'refresh')),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id, sink, id);

-- +goose Down
DROP TABLE alert_notifications;
DROP TABLE alert_silences;
DROP TABLE alerts;
