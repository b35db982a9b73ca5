package agecrypt

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
)

// ErrWrongKey is wrapped by the error NewReader returns when none of the
// identities can open the file's header: a wrong identity or passphrase.
// Callers report it as "this key cannot decrypt archive <name>" (HTTP 422).
// A damaged recipient stanza cannot be told apart from a wrong key (both
// fail to unwrap the file key); the archive's SHA-256 in the catalog can.
var ErrWrongKey = errors.New("this key cannot decrypt the archive")

// ErrDamaged is wrapped by errors about ciphertext that is not a valid age
// file for the key that opened it: a malformed header, a header MAC that
// does not match, a chunk that fails authentication, a truncated stream,
// bytes after the last chunk. Plaintext is never returned from a chunk
// that failed.
var ErrDamaged = errors.New("the encrypted archive is damaged or was altered")

// NewReader reads the age header from src, finds the file key with one of
// identities and returns a reader of the plaintext. It reads only the header
// (and what a buffered read takes past it) before returning, so a wrong key
// (ErrWrongKey) or a damaged header (ErrDamaged) is known before any
// plaintext is used. The reader authenticates each 64 KiB chunk before
// returning any of it; damage or truncation found later is an error wrapping
// ErrDamaged, after only the plaintext of the chunks before it. Errors from
// src itself are passed on wrapped, never as ErrDamaged. Decryption is
// filippo.io/age's own (age.Decrypt).
func NewReader(src io.Reader, identities ...age.Identity) (io.Reader, error) {
	if len(identities) == 0 {
		return nil, errors.New("opening an encrypted archive: no identity or passphrase given")
	}
	if slices.Contains(identities, nil) {
		return nil, errors.New("opening an encrypted archive: an identity is missing")
	}
	r, err := age.Decrypt(sourceReader{src}, identities...)
	if err != nil {
		return nil, headerError(err)
	}
	return &plainReader{r: r}, nil
}

// headerError classifies an error of age.Decrypt.
func headerError(err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return fmt.Errorf("opening an encrypted archive: reading its header: %w", se.err)
	}
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		switch {
		case slices.Contains(nm.StanzaTypes, "scrypt"):
			return fmt.Errorf("%w (it is encrypted with a passphrase)", ErrWrongKey)
		case len(nm.StanzaTypes) > 0 && allEqual(nm.StanzaTypes, "X25519"):
			return fmt.Errorf("%w (it is encrypted to age1… recipients)", ErrWrongKey)
		}
		return ErrWrongKey
	}
	return fmt.Errorf("%w: its age header: %v", ErrDamaged, err)
}

// allEqual reports whether every element of s is v.
func allEqual(s []string, v string) bool {
	for _, x := range s {
		if x != v {
			return false
		}
	}
	return true
}

// plainReader passes on age's plaintext and classifies its errors.
type plainReader struct {
	r   io.Reader
	err error
}

func (p *plainReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		p.err = payloadError(err)
		return n, p.err
	}
	return n, err
}

// payloadError classifies an error of age's payload reader.
func payloadError(err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return fmt.Errorf("reading an encrypted archive: %w", se.err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: it ends before its last chunk (truncated)", ErrDamaged)
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

// sourceReader marks the errors of the underlying reader (other than
// io.EOF, which age needs as it is), so they are not taken for damage.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		err = &sourceError{err: err}
	}
	return n, err
}

// sourceError is an error of the reader under the age file.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }
