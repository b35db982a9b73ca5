-- The figures /metrics reports, kept where a scrape reads them cheaply: the
-- bytes of each operation as integer columns computed from its progress when
-- the row is written (a scrape sums them from an index instead of parsing
-- the progress JSON of every row), and an index that holds what the duration
-- histogram needs.
ALTER TABLE backup_operations
    ADD COLUMN bytes_read BIGINT NOT NULL GENERATED ALWAYS AS (COALESCE((progress::jsonb ->> 'bytes_read')::bigint, 0)) STORED,
    ADD COLUMN bytes_written BIGINT NOT NULL GENERATED ALWAYS AS (COALESCE((progress::jsonb ->> 'bytes_written')::bigint, 0)) STORED;
ALTER TABLE restore_operations
    ADD COLUMN bytes_read BIGINT NOT NULL GENERATED ALWAYS AS (COALESCE((progress::jsonb ->> 'bytes_read')::bigint, 0)) STORED,
    ADD COLUMN bytes_written BIGINT NOT NULL GENERATED ALWAYS AS (COALESCE((progress::jsonb ->> 'bytes_written')::bigint, 0)) STORED;
CREATE INDEX backup_operations_bytes_idx ON backup_operations (bytes_read, bytes_written);
CREATE INDEX restore_operations_bytes_idx ON restore_operations (bytes_read, bytes_written);
CREATE INDEX backup_operations_duration_idx ON backup_operations (status, started_at, completed_at);
CREATE INDEX restore_operations_duration_idx ON restore_operations (status, started_at, completed_at);
