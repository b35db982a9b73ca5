-- Notification channels (docs/notifications.md): where coffer tells people
-- that something needs them. config is the channel's JSON configuration,
-- sealed whole with the server key like connection credentials (it holds
-- SMTP passwords, webhook secrets and tokens inside URLs). events is the
-- JSON list of event names it subscribes to; plan_ids the JSON list of plans
-- it is limited to (empty: every plan, and events that belong to no plan).
CREATE TABLE notification_channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL,
    config     BLOB    NOT NULL,
    events     TEXT    NOT NULL DEFAULT '[]',
    plan_ids   TEXT    NOT NULL DEFAULT '[]',
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One event for one channel: a River job delivers it, retrying with backoff.
-- payload is the event as sent (its JSON, with message and link filled in
-- and secrets already redacted), so a retry sends exactly the same thing.
CREATE TABLE notification_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event      TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    reply      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, id);
CREATE INDEX notification_deliveries_status_idx ON notification_deliveries (status, id);

-- overdue_since is set when a plan with alert_after went that long without
-- a successful run and plan.overdue was sent; cleared (and plan.recovered
-- sent) by its next successful run. One alert per overdue spell.
ALTER TABLE backup_plans ADD COLUMN overdue_since INTEGER;
