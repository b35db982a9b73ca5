package mongodb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MaxDocumentSize is the largest document BSONReader accepts: MongoDB's
// 16 MiB limit plus 16 KiB of slack (the server allows internal documents a
// little over the limit, and mongodump writes them as they are).
const MaxDocumentSize = 16<<20 + 16<<10

// minDocumentSize is the size of an empty document.
const minDocumentSize = 5

// BSONReader splits a stream of concatenated BSON documents (a mongodump
// .bson file) into documents. It never panics on garbage and never holds more
// than one document.
type BSONReader struct {
	r      *bufio.Reader
	offset int64
	err    error
}

// NewBSONReader reads documents from r.
func NewBSONReader(r io.Reader) *BSONReader {
	return &BSONReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Offset is the byte offset in the stream of the next document.
func (b *BSONReader) Offset() int64 { return b.offset }

// Next returns the next document as a newly allocated bson.Raw, checked to be
// well-formed BSON. It returns io.EOF at a clean end of the stream and an
// error naming the byte offset when the stream is truncated or corrupt
// (after which every call returns that error).
func (b *BSONReader) Next() (bson.Raw, error) {
	if b.err != nil {
		return nil, b.err
	}
	doc, err := b.next()
	if err != nil {
		b.err = err
		return nil, err
	}
	b.offset += int64(len(doc))
	return doc, nil
}

func (b *BSONReader) next() (bson.Raw, error) {
	var head [4]byte
	n, err := io.ReadFull(b.r, head[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("BSON stream truncated at offset %d: %d bytes where a document length was expected", b.offset, n)
	case err != nil:
		return nil, fmt.Errorf("reading the BSON stream at offset %d: %w", b.offset, err)
	}
	size := int64(int32(binary.LittleEndian.Uint32(head[:])))
	if size < minDocumentSize || size > MaxDocumentSize {
		return nil, fmt.Errorf("BSON stream corrupt at offset %d: a document length of %d bytes is impossible (allowed %d to %d)",
			b.offset, size, minDocumentSize, MaxDocumentSize)
	}
	doc := make([]byte, size)
	copy(doc, head[:])
	if n, err := io.ReadFull(b.r, doc[4:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("BSON stream truncated at offset %d: the document declares %d bytes but only %d follow",
				b.offset, size, 4+n)
		}
		return nil, fmt.Errorf("reading the BSON stream at offset %d: %w", b.offset, err)
	}
	if err := bson.Raw(doc).Validate(); err != nil {
		return nil, fmt.Errorf("BSON stream corrupt at offset %d: the %d-byte document is malformed: %w", b.offset, size, err)
	}
	return bson.Raw(doc), nil
}
