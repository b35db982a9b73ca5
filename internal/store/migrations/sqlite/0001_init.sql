-- coffer catalog, SQLite. Timestamps are INTEGER Unix microseconds (UTC);
-- JSON columns are TEXT; booleans are INTEGER 0/1.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT '',
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE connections (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  TEXT    NOT NULL UNIQUE,
    type                  TEXT    NOT NULL,
    credentials           BLOB,
    is_active             INTEGER NOT NULL DEFAULT 1,
    last_validated_at     INTEGER,
    last_validation_error TEXT    NOT NULL DEFAULT '',
    needs_reauth          INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX connections_type_idx ON connections (type);
CREATE INDEX connections_is_active_idx ON connections (is_active);

-- Connection references are SET NULL on delete: a connection without active
-- operations may be deleted and its finished operations stay in the history.
CREATE TABLE backup_operations (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    source_connection_id      INTEGER REFERENCES connections (id) ON DELETE SET NULL,
    destination_connection_id INTEGER REFERENCES connections (id) ON DELETE SET NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    requested_action TEXT    NOT NULL DEFAULT '' CHECK (requested_action IN ('', 'pause', 'cancel')),
    options          TEXT    NOT NULL DEFAULT '{}',
    metadata         TEXT    NOT NULL DEFAULT '{}',
    archive_path     TEXT    NOT NULL DEFAULT '',
    archive_size     INTEGER NOT NULL DEFAULT 0,
    sha256           TEXT    NOT NULL DEFAULT '',
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
CREATE INDEX backup_operations_status_idx ON backup_operations (status);
CREATE INDEX backup_operations_created_at_idx ON backup_operations (created_at);
CREATE INDEX backup_operations_source_idx ON backup_operations (source_connection_id);
CREATE INDEX backup_operations_destination_idx ON backup_operations (destination_connection_id);

CREATE TABLE restore_operations (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    backup_operation_id       INTEGER NOT NULL REFERENCES backup_operations (id),
    destination_connection_id INTEGER REFERENCES connections (id) ON DELETE SET NULL,
    destination_config TEXT    NOT NULL DEFAULT '{}',
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    requested_action   TEXT    NOT NULL DEFAULT '' CHECK (requested_action IN ('', 'pause', 'cancel')),
    progress           TEXT    NOT NULL DEFAULT '{}',
    checkpoint         TEXT,
    error_message      TEXT    NOT NULL DEFAULT '',
    lease_owner        TEXT    NOT NULL DEFAULT '',
    lease_token        INTEGER NOT NULL DEFAULT 0,
    heartbeat_at       INTEGER,
    started_at         INTEGER,
    completed_at       INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX restore_operations_status_idx ON restore_operations (status);
CREATE INDEX restore_operations_created_at_idx ON restore_operations (created_at);
CREATE INDEX restore_operations_backup_idx ON restore_operations (backup_operation_id);
CREATE INDEX restore_operations_destination_idx ON restore_operations (destination_connection_id);

CREATE TABLE archive_entries (
    backup_id INTEGER NOT NULL REFERENCES backup_operations (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      TEXT    NOT NULL,
    PRIMARY KEY (backup_id, seq)
) WITHOUT ROWID;

CREATE TABLE job_logs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_kind TEXT    NOT NULL CHECK (operation_kind IN ('backup', 'restore')),
    operation_id   INTEGER NOT NULL,
    level          TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    message        TEXT    NOT NULL,
    context        TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX job_logs_operation_idx ON job_logs (operation_kind, operation_id, id);
CREATE INDEX job_logs_created_at_idx ON job_logs (created_at);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id    INTEGER,
    actor_email TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL DEFAULT '',
    target_id   TEXT    NOT NULL DEFAULT '',
    ip          TEXT    NOT NULL DEFAULT '',
    details     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
CREATE INDEX audit_events_action_idx ON audit_events (action);
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id);
