-- Backup plans (docs/plans.md): a source, a destination, backup options, a
-- schedule in a time zone and a retention policy. next_run_at is the next
-- due time; the scheduler claims a due time by moving it forward with a
-- compare-and-set, so each due time starts at most one run, whichever
-- process ticks. A connection a plan uses cannot be deleted (RESTRICT).
CREATE TABLE backup_plans (
    id                        BIGSERIAL PRIMARY KEY,
    name                      TEXT    NOT NULL UNIQUE,
    source_connection_id      BIGINT NOT NULL REFERENCES connections (id) ON DELETE RESTRICT,
    destination_connection_id BIGINT NOT NULL REFERENCES connections (id) ON DELETE RESTRICT,
    options                   TEXT    NOT NULL DEFAULT '{}',
    schedule                  TEXT    NOT NULL,
    timezone                  TEXT    NOT NULL DEFAULT 'UTC',
    catch_up                  BOOLEAN NOT NULL DEFAULT TRUE,
    retention                 TEXT    NOT NULL DEFAULT '{}',
    alert_after               TEXT    NOT NULL DEFAULT '',
    verify                    TEXT    NOT NULL DEFAULT 'none',
    enabled                   BOOLEAN NOT NULL DEFAULT TRUE,
    next_run_at               TIMESTAMPTZ,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX backup_plans_due_idx ON backup_plans (enabled, next_run_at);

-- A plan's history: runs started, due times skipped (and why), runs missed
-- while coffer was down, prunes and prune failures.
CREATE TABLE plan_events (
    id         BIGSERIAL PRIMARY KEY,
    plan_id    BIGINT NOT NULL REFERENCES backup_plans (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    due_at     TIMESTAMPTZ,
    backup_id  BIGINT REFERENCES backup_operations (id) ON DELETE SET NULL,
    message    TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX plan_events_plan_idx ON plan_events (plan_id, id);

-- A backup started by a plan records it; deleting the plan keeps the backup
-- (it becomes ad hoc). pruned_at and prune_reason ('retention' | 'deleted')
-- mark a backup whose archive was removed; its row and logs stay.
ALTER TABLE backup_operations ADD COLUMN plan_id BIGINT REFERENCES backup_plans (id) ON DELETE SET NULL;
ALTER TABLE backup_operations ADD COLUMN pruned_at TIMESTAMPTZ;
ALTER TABLE backup_operations ADD COLUMN prune_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX backup_operations_plan_idx ON backup_operations (plan_id, status);
CREATE INDEX backup_operations_pruned_idx ON backup_operations (pruned_at);
