-- The figures /metrics reports, kept where a scrape reads them cheaply: the
-- bytes of each operation as integer columns that follow its progress (set
-- by the triggers below whenever progress is written, so a scrape sums them
-- from an index instead of parsing the progress JSON of every row), and an
-- index that holds what the duration histogram needs. PostgreSQL computes
-- the same columns as STORED generated columns.
ALTER TABLE backup_operations ADD COLUMN bytes_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backup_operations ADD COLUMN bytes_written INTEGER NOT NULL DEFAULT 0;
UPDATE backup_operations SET bytes_read = CASE WHEN json_valid(progress) THEN COALESCE(CAST(json_extract(progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
    bytes_written = CASE WHEN json_valid(progress) THEN COALESCE(CAST(json_extract(progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END;
CREATE TRIGGER backup_operations_bytes_insert AFTER INSERT ON backup_operations BEGIN
    UPDATE backup_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
        bytes_written = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
CREATE TRIGGER backup_operations_bytes_update AFTER UPDATE OF progress ON backup_operations BEGIN
    UPDATE backup_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
        bytes_written = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
ALTER TABLE restore_operations ADD COLUMN bytes_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE restore_operations ADD COLUMN bytes_written INTEGER NOT NULL DEFAULT 0;
UPDATE restore_operations SET bytes_read = CASE WHEN json_valid(progress) THEN COALESCE(CAST(json_extract(progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
    bytes_written = CASE WHEN json_valid(progress) THEN COALESCE(CAST(json_extract(progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END;
CREATE TRIGGER restore_operations_bytes_insert AFTER INSERT ON restore_operations BEGIN
    UPDATE restore_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
        bytes_written = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
CREATE TRIGGER restore_operations_bytes_update AFTER UPDATE OF progress ON restore_operations BEGIN
    UPDATE restore_operations SET bytes_read = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_read') AS INTEGER), 0) ELSE 0 END,
        bytes_written = CASE WHEN json_valid(NEW.progress) THEN COALESCE(CAST(json_extract(NEW.progress, '$.bytes_written') AS INTEGER), 0) ELSE 0 END
    WHERE id = NEW.id;
END;
CREATE INDEX backup_operations_bytes_idx ON backup_operations (bytes_read, bytes_written);
CREATE INDEX restore_operations_bytes_idx ON restore_operations (bytes_read, bytes_written);
CREATE INDEX backup_operations_duration_idx ON backup_operations (status, started_at, completed_at);
CREATE INDEX restore_operations_duration_idx ON restore_operations (status, started_at, completed_at);
