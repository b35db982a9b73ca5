-- Archive encryption keys (docs/encryption.md). An x25519 key keeps its
-- recipient ("age1…") in the clear; secret holds, sealed with the server
-- key, the identity ("AGE-SECRET-KEY-1…") when the key keeps it, or the
-- passphrase of a passphrase key, and is NULL for an x25519 key whose
-- identity coffer never stores.
CREATE TABLE encryption_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    recipient      TEXT    NOT NULL DEFAULT '',
    keeps_identity INTEGER NOT NULL DEFAULT 0,
    secret         BLOB,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- checkpoint_secret is the age stream state an encrypted backup needs to go
-- on from its checkpoint (payload key, chunk counter, unsealed plaintext),
-- sealed with the server key; NULL for a plain archive.
ALTER TABLE backup_operations ADD COLUMN checkpoint_secret BLOB;

-- secret is the identity or passphrase given with a restore of an archive
-- whose key coffer does not keep, sealed with the server key; it is removed
-- when the restore ends.
ALTER TABLE restore_operations ADD COLUMN secret BLOB;
