-- Verifications (docs/verify.md): a run that reads a backup's archive from
-- its destination and checks it against the sidecar, the manifest and the
-- catalog, writing nothing anywhere. result holds what it found (entries
-- checked, bytes read, problems). A verification is never paused, and one
-- interrupted by a crash reads the archive again from its start.
CREATE TABLE verify_operations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    backup_operation_id INTEGER NOT NULL REFERENCES backup_operations (id) ON DELETE CASCADE,
    plan_id             INTEGER REFERENCES backup_plans (id) ON DELETE SET NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    requested_action TEXT    NOT NULL DEFAULT '' CHECK (requested_action IN ('', 'pause', 'cancel')),
    result           TEXT    NOT NULL DEFAULT '{}',
    progress         TEXT    NOT NULL DEFAULT '{}',
    checkpoint       TEXT,
    error_message    TEXT    NOT NULL DEFAULT '',
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_token      INTEGER NOT NULL DEFAULT 0,
    heartbeat_at     INTEGER,
    started_at       INTEGER,
    completed_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX verify_operations_status_idx ON verify_operations (status);
CREATE INDEX verify_operations_created_at_idx ON verify_operations (created_at);
CREATE INDEX verify_operations_backup_idx ON verify_operations (backup_operation_id);
-- The figures /metrics reads, as for backups and restores (0004).
ALTER TABLE verify_operations ADD COLUMN bytes_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE verify_operations ADD COLUMN bytes_written INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER verify_operations_bytes_insert AFTER INSERT ON verify_operations BEGIN
    UPDATE verify_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
CREATE TRIGGER verify_operations_bytes_update AFTER UPDATE OF progress ON verify_operations BEGIN
    UPDATE verify_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
CREATE INDEX verify_operations_bytes_idx ON verify_operations (bytes_read, bytes_written);
CREATE INDEX verify_operations_duration_idx ON verify_operations (status, started_at, completed_at);

-- A verification's log lines live with the others: the kind check grows.
CREATE TABLE job_logs_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_kind TEXT    NOT NULL CHECK (operation_kind IN ('backup', 'restore', 'verify')),
    operation_id   INTEGER NOT NULL,
    level          TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    message        TEXT    NOT NULL,
    context        TEXT,
    created_at     INTEGER NOT NULL
);
INSERT INTO job_logs_new (id, operation_kind, operation_id, level, message, context, created_at)
    SELECT id, operation_kind, operation_id, level, message, context, created_at FROM job_logs;
DROP TABLE job_logs;
ALTER TABLE job_logs_new RENAME TO job_logs;
CREATE INDEX job_logs_operation_idx ON job_logs (operation_kind, operation_id, id);
CREATE INDEX job_logs_created_at_idx ON job_logs (created_at);

-- imported marks a backup found at a destination by a scan (its row was
-- rebuilt from the archive's manifest, not recorded by a run). The last
-- verification's end and outcome ('passed', 'failed' or '' for none) are
-- kept on the backup for lists and badges.
ALTER TABLE backup_operations ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backup_operations ADD COLUMN last_verified_at INTEGER;
ALTER TABLE backup_operations ADD COLUMN last_verify_status TEXT NOT NULL DEFAULT '';

-- A plan whose verify is a schedule keeps its next due time like its runs.
ALTER TABLE backup_plans ADD COLUMN next_verify_at INTEGER;

-- One catalog row per stored archive: a scan that runs twice, or two at
-- once, imports an archive once.
CREATE UNIQUE INDEX backup_operations_archive_idx ON backup_operations (destination_connection_id, archive_path) WHERE archive_path <> '';
