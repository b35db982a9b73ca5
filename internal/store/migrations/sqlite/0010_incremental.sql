-- Incremental S3 backups (docs/incremental.md). mode is how the archive was
-- made: 'full' holds every object, 'incremental' only the new and changed
-- ones, its manifest pointing at the earlier archives of its chain for the
-- rest. base_backup_id is the backup an incremental is built on (its chain
-- goes on through that one's base); changed_objects is how many objects'
-- bytes the archive holds (NULL until the backup completes).
ALTER TABLE backup_operations ADD COLUMN mode TEXT NOT NULL DEFAULT 'full' CHECK (mode IN ('full', 'incremental'));
ALTER TABLE backup_operations ADD COLUMN base_backup_id INTEGER REFERENCES backup_operations (id);
ALTER TABLE backup_operations ADD COLUMN changed_objects INTEGER;
CREATE INDEX backup_operations_base_idx ON backup_operations (base_backup_id) WHERE base_backup_id IS NOT NULL;

-- A plan of incremental backups starts a new chain with a full backup
-- after this many incrementals ("7"), or at its first run after each time
-- of a cron expression ("0 3 * * 0").
ALTER TABLE backup_plans ADD COLUMN full_every TEXT NOT NULL DEFAULT '7';
