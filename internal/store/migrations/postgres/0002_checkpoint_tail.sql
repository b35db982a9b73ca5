-- The archive bytes a backup produced but has not uploaded yet (less than one
-- part), kept beside the checkpoint JSON as raw bytes: read only when a run
-- continues, never by the API.
ALTER TABLE backup_operations ADD COLUMN checkpoint_tail BYTEA;
