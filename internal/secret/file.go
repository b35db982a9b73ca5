package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds how much of a key file is read; a real one is a few
// hundred bytes.
const maxKeyFileSize = 1 << 20

// Load returns the keyring coffer runs with. When envKey (the value of
// COFFER_SECRET_KEY) is not empty it is parsed as described in the package
// documentation and the data directory is not touched. Otherwise the keys are
// read from <dataDir>/secret.key; on first start the directory is created
// with mode 0700 if missing and the file with mode 0600 and one fresh random
// key. A key file that group or other users may access is refused.
func Load(dataDir, envKey string) (*Keyring, error) {
	if envKey != "" {
		return ParseEnv(envKey)
	}
	if dataDir == "" {
		return nil, fmt.Errorf("no data directory was given to keep %s in; set COFFER_DATA_DIR or %s", KeyFileName, EnvVar)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data directory %s for the secret key: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, KeyFileName)
	// Two tries: another process may create the file between our read and
	// our create, in which case we read theirs.
	for range 2 {
		k, err := readKeyFile(path)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		k, err = Generate()
		if err != nil {
			return nil, err
		}
		err = createExclusive(path, k.encodeFile())
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create the secret key file %s: %w", path, err)
		}
	}
	return nil, fmt.Errorf("the secret key file %s keeps appearing and disappearing; check what else writes to the data directory", path)
}

// readKeyFile reads and parses the key file at path, refusing loose
// permissions. A missing file yields an error wrapping fs.ErrNotExist.
func readKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open the secret key file %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inspect the secret key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("the secret key file %s is not a regular file; replace it with the key file or set %s", path, EnvVar)
	}
	if err := checkPrivate(path, info.Mode()); err != nil {
		return nil, err
	}
	if info.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("the secret key file %s is %d bytes, far larger than a key file; check that it is the right file", path, info.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("read the secret key file %s: %w", path, err)
	}
	defer clear(data)
	return parseFile(path, data)
}

// checkPrivate refuses a key file that group or others can access. Windows
// has no such mode bits, so nothing is checked there.
func checkPrivate(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("the secret key file %s can be accessed by other users (mode %04o); run `chmod 600 %s` and start coffer again", path, perm, path)
	}
	return nil
}

// writeTemp writes data to a new private temporary file in dir, flushed to
// disk, and returns its name.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, "."+KeyFileName+".tmp-*")
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(name)
		return "", err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir flushes a directory entry change to disk where the platform allows.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// createExclusive puts data at path only if nothing is there yet, so that a
// reader never sees a half-written file: a complete temporary file is
// hard-linked into place. It fails with an error wrapping fs.ErrExist when
// path exists.
func createExclusive(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	linkErr := os.Link(tmp, path)
	if linkErr == nil {
		return syncDir(dir)
	}
	if errors.Is(linkErr, fs.ErrExist) {
		return linkErr
	}
	// The file system has no hard links: fall back to an exclusive create.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return syncDir(dir)
}

// SaveFile writes the keyring to <dataDir>/secret.key with mode 0600,
// replacing any file there atomically (temporary file, fsync, rename), and
// creates dataDir with mode 0700 if it is missing.
func (k *Keyring) SaveFile(dataDir string) error {
	if dataDir == "" {
		return errors.New("no data directory was given to save the secret key file in")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory %s for the secret key: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, KeyFileName)
	data := k.encodeFile()
	defer clear(data)
	tmp, err := writeTemp(dataDir, data)
	if err != nil {
		return fmt.Errorf("write a new secret key file in %s: %w", dataDir, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace the secret key file %s: %w", path, err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("flush the data directory %s after writing the secret key file: %w", dataDir, err)
	}
	return nil
}
