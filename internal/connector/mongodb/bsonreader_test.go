package mongodb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// exoticDocs are documents with the BSON types FerretDB cannot carry; they
// must pass through coffer byte for byte.
func exoticDocs(t testing.TB) []bson.Raw {
	t.Helper()
	dec, err := bson.ParseDecimal128("-1234567890.123456789012345678901234E-100")
	if err != nil {
		t.Fatal(err)
	}
	nan := math.Float64frombits(0x7ff8_0000_0000_0001) // a NaN with a payload
	docs := []bson.D{
		{{Key: "_id", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}}},
		{{Key: "_id", Value: dec}, {Key: "d", Value: bson.NewDecimal128(math.MaxUint64, 1)}},
		{{Key: "_id", Value: int32(1)}, {Key: "js", Value: bson.JavaScript("function(){return 1}")},
			{Key: "scope", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "y", Value: int32(2)}}}}},
		{{Key: "_id", Value: int32(2)}, {Key: "sym", Value: bson.Symbol("sym")}, {Key: "u", Value: bson.Undefined{}}},
		{{Key: "_id", Value: int32(3)}, {Key: "ptr", Value: bson.DBPointer{DB: "db.coll", Pointer: bson.NewObjectID()}}},
		{{Key: "_id", Value: int32(4)}, {Key: "nan", Value: nan}, {Key: "inf", Value: math.Inf(1)},
			{Key: "ninf", Value: math.Inf(-1)}, {Key: "negzero", Value: math.Copysign(0, -1)}},
		{{Key: "", Value: "empty key"}, {Key: "_id", Value: int32(5)}, {Key: "nested", Value: bson.D{{Key: "", Value: bson.D{{Key: "", Value: int32(0)}}}}}},
		{{Key: "_id", Value: bson.D{}}, {Key: "dup", Value: int32(1)}, {Key: "dup", Value: int32(2)}, {Key: "a.b", Value: "dotted"}, {Key: "$x", Value: "dollar"}},
		{},
	}
	var out []bson.Raw
	for _, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatalf("marshal %v: %v", d, err)
		}
		out = append(out, b)
	}
	return out
}

func readAll(t testing.TB, r io.Reader) ([]bson.Raw, error) {
	t.Helper()
	br := NewBSONReader(r)
	var docs []bson.Raw
	for {
		d, err := br.Next()
		if err != nil {
			return docs, err
		}
		docs = append(docs, d)
	}
}

func TestBSONReaderKeepsExoticTypesExactly(t *testing.T) {
	t.Parallel()
	docs := exoticDocs(t)
	stream := bytes.Join(func() [][]byte {
		var bs [][]byte
		for _, d := range docs {
			bs = append(bs, d)
		}
		return bs
	}(), nil)
	// One byte at a time too, so no read boundary matters.
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		got, err := readAll(t, r)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("%s: stream ended with %v, want io.EOF", name, err)
		}
		if len(got) != len(docs) {
			t.Fatalf("%s: %d documents, want %d", name, len(got), len(docs))
		}
		for i := range docs {
			if !bytes.Equal(got[i], docs[i]) {
				t.Fatalf("%s: document %d changed:\n got %x\nwant %x", name, i, got[i], docs[i])
			}
		}
	}
	// The values really are what the test claims (no silent normalisation).
	v := bson.Raw(docs[5])
	if f := v.Lookup("negzero").Double(); f != 0 || !math.Signbit(f) {
		t.Errorf("negzero = %v", f)
	}
	if f := v.Lookup("nan").Double(); math.Float64bits(f) != 0x7ff8_0000_0000_0001 {
		t.Errorf("nan bits = %x", math.Float64bits(f))
	}
	// Documents handed out are independent copies.
	br := NewBSONReader(bytes.NewReader(stream))
	first, _ := br.Next()
	second, _ := br.Next()
	if !bytes.Equal(first, docs[0]) || !bytes.Equal(second, docs[1]) {
		t.Fatal("a later Next changed an earlier document")
	}
}

func TestMetadataJSONKeepsExoticTypes(t *testing.T) {
	t.Parallel()
	dec, _ := bson.ParseDecimal128("1.50")
	opts, _ := bson.Marshal(bson.D{
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)}, {Key: "max", Value: int32(100)},
		{Key: "validator", Value: bson.D{{Key: "price", Value: bson.D{{Key: "$gte", Value: dec}}},
			{Key: "low", Value: bson.D{{Key: "$gt", Value: bson.MinKey{}}}}, {Key: "high", Value: bson.D{{Key: "$lt", Value: bson.MaxKey{}}}},
			{Key: "neg", Value: math.Copysign(0, -1)}, {Key: "inf", Value: math.Inf(-1)}, {Key: "nan", Value: math.NaN()},
			{Key: "sym", Value: bson.Symbol("s")}, {Key: "u", Value: bson.Undefined{}}, {Key: "re", Value: bson.Regex{Pattern: `a"b\`, Options: "im"}}}},
		{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(2)}}},
	})
	idx1, _ := bson.Marshal(bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}})
	idx2, _ := bson.Marshal(bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "a", Value: int64(1)}, {Key: "b", Value: -1.0}}},
		{Key: "name", Value: "a_1_b_-1"}, {Key: "unique", Value: true}, {Key: "partialFilterExpression", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: dec}}}}},
		{Key: "expireAfterSeconds", Value: int32(3600)}, {Key: "ns", Value: "old.coll"}})
	idx3, _ := bson.Marshal(bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "t", Value: "text"}}}, {Key: "name", Value: "t_text"},
		{Key: "weights", Value: bson.D{{Key: "t", Value: int32(1)}}}, {Key: "default_language", Value: "english"}, {Key: "textIndexVersion", Value: int32(3)}})
	coll := Collection{Name: "coll with spaces ✓", Type: "collection", Options: opts, UUID: "0123456789abcdef0123456789abcdef",
		Indexes: []bson.Raw{idx1, idx2, idx3}}

	js, err := MetadataJSON("db", coll)
	if err != nil {
		t.Fatal(err)
	}
	// mongodump's key order and canonical numbers.
	s := string(js)
	for _, want := range []string{`{"options":{"capped":true,"size":{"$numberLong":"1048576"}`, `"indexes":[{"v":{"$numberInt":"2"}`,
		`"uuid":"0123456789abcdef0123456789abcdef","collectionName":"coll with spaces ✓","type":"collection"}`, `{"$numberDecimal":"1.50"}`,
		`{"$minKey":1}`, `{"$numberDouble":"-0.0"}`} {
		if !strings.Contains(s, want) {
			t.Errorf("metadata %s\ndoes not contain %s", s, want)
		}
	}
	back, err := ParseMetadataJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if back.Name != coll.Name || back.Type != coll.Type || back.UUID != coll.UUID || !bytes.Equal(back.Options, coll.Options) {
		t.Fatalf("round trip: got %+v", back)
	}
	if len(back.Indexes) != 3 {
		t.Fatalf("round trip: %d indexes", len(back.Indexes))
	}
	for i := range coll.Indexes {
		if !bytes.Equal(back.Indexes[i], coll.Indexes[i]) {
			t.Errorf("index %d: got %v, want %v", i, back.Indexes[i], coll.Indexes[i])
		}
	}
}

func TestMetadataJSONViewsAndMongodumpFiles(t *testing.T) {
	t.Parallel()
	opts, _ := bson.Marshal(bson.D{{Key: "viewOn", Value: "people"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "age", Value: bson.D{{Key: "$gt", Value: int32(30)}}}}}}}}})
	js, err := MetadataJSON("db", Collection{Name: "adults", Type: "view", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"options":{"viewOn":"people","pipeline":[{"$match":{"age":{"$gt":{"$numberInt":"30"}}}}]},"indexes":[],"collectionName":"adults","type":"view"}`
	if string(js) != want {
		t.Fatalf("view metadata:\n got %s\nwant %s", js, want)
	}
	// No options: mongodump leaves the key out; indexes is [] not null.
	js, _ = MetadataJSON("db", Collection{Name: "plain", Options: emptyDoc})
	if string(js) != `{"indexes":[],"collectionName":"plain","type":"collection"}` {
		t.Fatalf("plain metadata: %s", js)
	}

	// Files as older mongodump versions wrote them.
	for _, tc := range []struct {
		json, name, typ string
		indexes         int
	}{
		{`{"options":{"viewOn":"a","pipeline":[]},"indexes":[]}`, "", "view", 0},
		{`{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_","ns":"d.c"}],"uuid":"ab"}`, "", "collection", 1},
		{`{"indexes":[],"collectionName":"ts","type":"timeseries"}`, "ts", "timeseries", 0},
	} {
		c, err := ParseMetadataJSON([]byte(tc.json))
		if err != nil {
			t.Fatalf("ParseMetadataJSON(%s): %v", tc.json, err)
		}
		if c.Name != tc.name || c.Type != tc.typ || len(c.Indexes) != tc.indexes {
			t.Errorf("ParseMetadataJSON(%s) = %+v", tc.json, c)
		}
	}
	for _, bad := range []string{``, `[]`, `{"indexes":{}}`, `{"indexes":[1]}`, `{"options":[]}`, `{"collectionName":1}`, `{"type":true}`, `{"uuid":{"$binary":{"base64":"","subType":"04"}}}`} {
		if _, err := ParseMetadataJSON([]byte(bad)); err == nil {
			t.Errorf("ParseMetadataJSON(%q) accepted it", bad)
		}
	}
}

func le32(n int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }

func TestBSONReaderErrors(t *testing.T) {
	t.Parallel()
	good, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(7)}, {Key: "s", Value: "text"}})
	huge := append(le32(MaxDocumentSize+1), make([]byte, 64)...)
	cases := []struct {
		name, stream, want string
	}{
		{"empty stream", "", "EOF"},
		{"short length", string(good) + "\x05\x00", "truncated at offset 26: 2 bytes"},
		{"length too small", string(le32(4)) + "\x00\x00", "at offset 0: a document length of 4 bytes is impossible"},
		{"negative length", string(le32(-1)), "a document length of -1 bytes"},
		{"length over 16 MiB", string(huge), "impossible"},
		{"truncated body", string(good) + string(good[:10]), "truncated at offset 26: the document declares 26 bytes but only 10 follow"},
		{"no terminator", string(good[:len(good)-1]) + "\x01", "corrupt at offset 0"},
		{"bad element type", string(le32(12)) + "\x99a\x00\x00\x00\x00\x00\x00", "corrupt at offset 0"},
		{"string length past end", string(le32(13)) + "\x02a\x00\xff\x00\x00\x00x\x00", "corrupt at offset 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			br := NewBSONReader(strings.NewReader(tc.stream))
			var err error
			for range 10 {
				if _, err = br.Next(); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, again := br.Next(); again == nil || again.Error() != err.Error() {
				t.Fatalf("Next after an error = %v, want the same error", again)
			}
		})
	}
	// A reader that fails is reported with the offset.
	br := NewBSONReader(io.MultiReader(bytes.NewReader(good), iotest.ErrReader(errors.New("disk on fire"))))
	if d, err := br.Next(); err != nil || !bytes.Equal(d, good) {
		t.Fatalf("first document: %v", err)
	}
	if _, err := br.Next(); err == nil || !strings.Contains(err.Error(), "offset 26") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
	if br.Offset() != 26 {
		t.Fatalf("Offset = %d", br.Offset())
	}
}

func FuzzBSONReader(f *testing.F) {
	for _, d := range exoticDocs(f) {
		f.Add([]byte(d))
		f.Add(slices.Concat([]byte(d), []byte(d)))
		f.Add([]byte(d)[:len(d)/2])
	}
	f.Add([]byte{})
	f.Add(le32(5))
	f.Add(append(le32(6), 0, 0))
	f.Add(append(le32(0x7fffffff), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := NewBSONReader(bytes.NewReader(data))
		total := 0
		for range len(data) + 1 {
			doc, err := br.Next()
			if err != nil {
				if errors.Is(err, io.EOF) && total != len(data) {
					t.Fatalf("io.EOF after %d of %d bytes", total, len(data))
				}
				return
			}
			if len(doc) > len(data) {
				t.Fatalf("a %d-byte document from %d bytes of input", len(doc), len(data))
			}
			if !bytes.Equal(doc, data[total:total+len(doc)]) {
				t.Fatalf("document at offset %d is not the input's bytes", total)
			}
			if err := doc.Validate(); err != nil {
				t.Fatalf("returned an invalid document: %v", err)
			}
			total += len(doc)
		}
		t.Fatalf("more documents than input bytes")
	})
}
