// Package verify checks an archive where it is stored, as a restore would
// read it, and writes nothing anywhere: the stored bytes' SHA-256 against
// the "<archive>.sha256" sidecar beside it and the catalog's record, and,
// when the archive can be opened (plain, or encrypted with an identity at
// hand), everything archive.Verify checks inside it. The server's verify
// operation, `coffer archive verify`, `coffer restore --archive` and the
// import of archives found at a destination all read archives through it,
// so each makes the same checks.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector"
)

// Input is the archive to check and what to check it against.
type Input struct {
	// Dest holds the archive Name and its sidecar Name + ".sha256".
	Dest connector.Destination
	Name string
	// Encrypted says the archive is age-encrypted (its name ends in .age or
	// the catalog says so). Without Identities only the stored bytes are
	// checked and the result says that its contents were not.
	Encrypted  bool
	Identities []age.Identity
	// WantSHA256 is the catalog's SHA-256 of the stored archive ("": none).
	WantSHA256 string
	// Expected, OnManifestEntry and Stop are archive.VerifyOptions'.
	Expected        func() (archive.ManifestEntry, error)
	OnManifestEntry func(archive.ManifestEntry) error
	Stop            func() error
	// Progress, when set, is told after each entry how many stored bytes
	// and entries have been read.
	Progress func(bytesRead, entries int64)
}

// Result is what a check found. Its JSON is the result of a verification
// in the API.
type Result struct {
	// EntriesChecked counts the entries read and checked.
	EntriesChecked int64 `json:"entries_checked"`
	// BytesRead counts the stored (compressed, maybe encrypted) bytes read.
	BytesRead int64 `json:"bytes_read"`
	// EntryBytes sums the entries' sizes; Documents their documents.
	EntryBytes int64 `json:"entry_bytes"`
	Documents  int64 `json:"documents"`
	// ContentsChecked is false for an encrypted archive checked without an
	// identity: only its stored bytes' SHA-256 was.
	ContentsChecked bool `json:"contents_checked"`
	// SHA256 is the stored archive's SHA-256 as read ("" when it could not be read whole).
	SHA256 string `json:"sha256,omitempty"`
	// ProblemList is what is wrong ("problems", "problem_count").
	archive.ProblemList
	// Header is the manifest's header when it was read.
	Header *archive.ManifestHeader `json:"-"`
	// Totals are the manifest's totals when it was read.
	Totals archive.ManifestTotals `json:"-"`
}

// Summary is the result in one sentence.
func (r *Result) Summary() string {
	if r.OK() {
		if !r.ContentsChecked {
			return fmt.Sprintf("The stored archive matches its checksum (%s read); its contents were not checked: it is encrypted and no identity was at hand.", bytesize.Human(r.BytesRead))
		}
		return fmt.Sprintf("Archive verified: %d entries and their checksums, %s read.", r.EntriesChecked, bytesize.Human(r.BytesRead))
	}
	first := r.Problems[0].Message
	if r.ProblemCount == 1 {
		return "The archive failed verification: " + first
	}
	return fmt.Sprintf("The archive failed verification with %d problems; the first: %s", r.ProblemCount, first)
}

// Archive checks in.Name at in.Dest. What is wrong with the archive (a
// missing or different sidecar, a missing archive, damage, an entry that
// differs from the manifest or the catalog, a key that does not open it) is
// in the result's problems; the error is for a check that could not be made
// (the destination cannot be reached, Stop, the context).
func Archive(ctx context.Context, in Input) (*Result, error) {
	res := &Result{ProblemList: archive.ProblemList{Problems: []archive.Problem{}}}
	sidecar, err := readSidecar(ctx, in.Dest, in.Name)
	switch {
	case errors.Is(err, connector.ErrNotExist):
		res.Add("", "The checksum file %s is missing beside the archive.", in.Dest.Location(in.Name+".sha256"))
	case errors.Is(err, errBadSidecar):
		res.Add("", "The checksum file %s is not in sha256sum format.", in.Dest.Location(in.Name+".sha256"))
	case err != nil:
		return nil, err
	}
	stream, err := in.Dest.Open(ctx, in.Name, 0)
	if errors.Is(err, connector.ErrNotExist) {
		res.Add("", "The archive %s is missing at its destination.", in.Dest.Location(in.Name))
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the archive %s: %w", in.Dest.Location(in.Name), err)
	}
	defer stream.Close()
	counted := &counter{r: stream}
	if in.Encrypted && len(in.Identities) == 0 {
		h := sha256.New()
		if _, err := io.Copy(h, stopReader{ctx: ctx, r: counted}); err != nil {
			return nil, fmt.Errorf("read the archive %s: %w", in.Dest.Location(in.Name), err)
		}
		res.SHA256 = hex.EncodeToString(h.Sum(nil))
	} else if err := readContents(ctx, in, res, counted); err != nil {
		return nil, err
	}
	res.BytesRead = counted.n
	if res.SHA256 != "" {
		if sidecar != "" && sidecar != res.SHA256 {
			res.Add("", "The stored archive's SHA-256 is %s but its checksum file says %s: the stored bytes changed after the backup.", res.SHA256, sidecar)
		}
		if in.WantSHA256 != "" && in.WantSHA256 != res.SHA256 {
			res.Add("", "The stored archive's SHA-256 is %s but the catalog recorded %s: the stored bytes changed after the backup.", res.SHA256, in.WantSHA256)
		}
	}
	return res, nil
}

// readContents opens the archive's stream and checks everything inside it.
func readContents(ctx context.Context, in Input, res *Result, counted *counter) error {
	var ar *archive.Reader
	var err error
	if in.Encrypted {
		ar, err = archive.NewEncryptedReader(counted, in.Identities...)
	} else {
		ar, err = archive.NewReader(counted)
	}
	switch {
	case errors.Is(err, agecrypt.ErrWrongKey):
		res.Add("", "The identity given cannot decrypt the archive: %v", err)
		return nil
	case errors.Is(err, archive.ErrCorrupt):
		res.Add("", "The archive cannot be read: %v", err)
		return nil
	case err != nil && counted.err != nil:
		return fmt.Errorf("read the archive %s: %w", in.Dest.Location(in.Name), err)
	case err != nil:
		res.Add("", "The archive cannot be read: %v", err)
		return nil
	}
	defer ar.Close()
	res.ContentsChecked = true
	stop := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if in.Stop != nil {
			return in.Stop()
		}
		return nil
	}
	var entries int64
	v, err := archive.Verify(ar, archive.VerifyOptions{
		Expected:        in.Expected,
		OnManifestEntry: in.OnManifestEntry,
		Stop:            stop,
		OnEntry: func(string, int64) {
			entries++
			if in.Progress != nil {
				in.Progress(counted.n, entries)
			}
		},
	})
	if err != nil {
		return err
	}
	if counted.err != nil && !v.Complete {
		// The destination failed mid-read: that is not damage.
		return fmt.Errorf("read the archive %s: %w", in.Dest.Location(in.Name), counted.err)
	}
	res.EntriesChecked, res.EntryBytes, res.Documents = v.Entries, v.Bytes, v.Documents
	res.Header, res.Totals = v.Header, v.Totals
	res.Merge(v.ProblemList)
	if v.Complete {
		res.SHA256 = ar.SHA256Hex()
	}
	return nil
}

// readSidecar returns the SHA-256 the archive's sidecar names; an
// unreadable sidecar is "" (the archive's own check goes on) unless the
// destination failed.
func readSidecar(ctx context.Context, d connector.Destination, name string) (string, error) {
	rc, err := d.Open(ctx, name+".sha256", 0)
	if err != nil {
		if errors.Is(err, connector.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("open the checksum file %s: %w", d.Location(name+".sha256"), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("read the checksum file %s: %w", d.Location(name+".sha256"), err)
	}
	sum, err := archive.ParseSidecar(data)
	if err != nil {
		return "", errBadSidecar
	}
	return sum, nil
}

var errBadSidecar = errors.New("the checksum file is not in sha256sum format")

// counter counts the bytes read from r and keeps its first error.
type counter struct {
	r   io.Reader
	n   int64
	err error
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.err == nil {
		c.err = err
	}
	return n, err
}

// stopReader ends a read when ctx ends.
type stopReader struct {
	ctx context.Context
	r   io.Reader
}

func (s stopReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.r.Read(p)
}

// IsEncryptedName reports whether an archive's name says it is encrypted.
func IsEncryptedName(name string) bool { return strings.HasSuffix(name, archive.AgeExt) }
