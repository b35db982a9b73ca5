package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/store"
)

// Keys gives the engine what encrypted archives need. *encryption.Service
// implements it: it alone reads the stored identities and passphrases, and
// holds the server key that seals what a checkpoint or a restore keeps.
type Keys interface {
	// Recipients are those an archive encrypted with key id is sealed to.
	Recipients(ctx context.Context, id int64) ([]age.Recipient, error)
	// Identities open an archive encrypted with key id: from u when it was
	// given, else what coffer keeps of the key (an apperr.Invalid error
	// when it keeps nothing).
	Identities(ctx context.Context, id int64, u Unlock) ([]age.Identity, error)
	// KeyName is the name of key id, for messages.
	KeyName(ctx context.Context, id int64) string
	// Seal and Open protect secrets kept in the catalog with the server key.
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// SetKeys sets what encrypted backups and restores use. Set it before the
// queue starts; without it, a backup that asks for encryption fails.
func (e *Engine) SetKeys(k Keys) { e.keys = k }

var errNoKeys = errors.New("archive encryption is not set up in this process")

// encryptionKeyOf is the key a backup's options name (0: not encrypted).
func encryptionKeyOf(op *store.BackupOperation) int64 {
	opts, bad := decodeBackupOptions(op.Options)
	if bad != nil {
		return 0
	}
	return opts.EncryptionKeyID
}

// sealState seals an age stream state for the catalog.
func (e *Engine) sealState(st *agecrypt.State) ([]byte, error) {
	if st == nil {
		return nil, nil
	}
	if e.keys == nil {
		return nil, errNoKeys
	}
	plain, err := st.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return e.keys.Seal(plain)
}

// openState unseals an age stream state saved by sealState.
func (e *Engine) openState(sealed []byte) (*agecrypt.State, error) {
	if e.keys == nil {
		return nil, errNoKeys
	}
	plain, err := e.keys.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open the saved encryption state: %w", err)
	}
	defer clear(plain)
	var st agecrypt.State
	if err := st.UnmarshalBinary(plain); err != nil {
		return nil, fmt.Errorf("read the saved encryption state: %w", err)
	}
	return &st, nil
}

// sealUnlock seals what a restore was given to open its archive.
func (e *Engine) sealUnlock(u Unlock) ([]byte, error) {
	if !u.Given() {
		return nil, nil
	}
	if e.keys == nil {
		return nil, errNoKeys
	}
	plain, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return e.keys.Seal(plain)
}

// restoreIdentities returns the identities that open backup's archive for
// restore id: those given with the restore (kept sealed until it ends), or
// what coffer keeps of the key.
func (e *Engine) restoreIdentities(ctx context.Context, restoreID, keyID int64) ([]age.Identity, error) {
	if e.keys == nil {
		return nil, errNoKeys
	}
	var u Unlock
	sealed, err := e.cat.RestoreSecret(ctx, restoreID)
	if err != nil {
		return nil, err
	}
	if len(sealed) > 0 {
		plain, err := e.keys.Open(sealed)
		if err != nil {
			return nil, fmt.Errorf("open the key given with the restore: %w", err)
		}
		err = json.Unmarshal(plain, &u)
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("read the key given with the restore: %w", err)
		}
	}
	return e.keys.Identities(ctx, keyID, u)
}

// wrongKey is the 422 of an identity that cannot open an archive.
func wrongKey(archivePath string, err error) error {
	detail := strings.TrimPrefix(err.Error(), agecrypt.ErrWrongKey.Error())
	return apperr.New(apperr.Invalid, "This key cannot decrypt archive %s%s. Give the identity or passphrase of the key it was encrypted with.",
		archivePath, detail)
}

// checkUnlock makes sure a restore of encrypted backup can open its
// archive: with what was given (u) or what coffer keeps of key keyID. A
// missing identity is a problem in fields; one that opens none of the
// archive's header stanzas is a 422 before anything is queued or written.
func (e *Engine) checkUnlock(ctx context.Context, backup *store.BackupOperation, keyID int64, u Unlock, fields map[string]string) error {
	if e.keys == nil {
		return errNoKeys
	}
	if u.Identity != "" && u.Passphrase != "" {
		fields["identity"] = "give an identity or a passphrase, not both"
		return nil
	}
	ids, err := e.keys.Identities(ctx, keyID, u)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code == apperr.Invalid {
			field := "identity"
			if u.Passphrase != "" {
				field = "passphrase"
			}
			fields[field] = ae.Message
			return nil
		}
		return err
	}
	_, dst, err := e.openDestination(ctx, backup.DestinationConnectionID)
	if err != nil {
		return err
	}
	stream, err := dst.Open(ctx, backup.ArchivePath, 0)
	if err != nil {
		return fmt.Errorf("open the archive %s: %w", dst.Location(backup.ArchivePath), err)
	}
	defer stream.Close()
	if _, err := agecrypt.NewReader(stream, ids...); err != nil {
		if errors.Is(err, agecrypt.ErrWrongKey) {
			return wrongKey(dst.Location(backup.ArchivePath), err)
		}
		return fmt.Errorf("read the header of the archive %s: %w", dst.Location(backup.ArchivePath), err)
	}
	return nil
}
