package agecrypt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
)

// sampleState is a valid State with a recognisable key and plaintext.
func sampleState(pending int) State {
	st := State{HeaderSize: 200, Chunks: 3, Pending: bytes.Repeat([]byte("P"), pending)}
	if pending == 0 {
		st.Chunks = 0
	}
	for i := range st.PayloadKey {
		st.PayloadKey[i] = 0xAB
	}
	return st
}

func TestStateBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, pending := range []int{0, 1, 1000, ChunkSize} {
		st := sampleState(pending)
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 56+pending {
			t.Errorf("pending %d: %d bytes, want %d", pending, len(b), 56+pending)
		}
		var got State
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("pending %d: %v", pending, err)
		}
		if got.PayloadKey != st.PayloadKey || got.HeaderSize != st.HeaderSize || got.Chunks != st.Chunks ||
			!bytes.Equal(got.Pending, st.Pending) {
			t.Fatalf("pending %d: decoded %v, want %v", pending, got, st)
		}
		if got.Written() != 200+st.Chunks*encChunkSize || got.Plaintext() != st.Chunks*ChunkSize+int64(pending) {
			t.Errorf("pending %d: Written %d, Plaintext %d", pending, got.Written(), got.Plaintext())
		}
	}
}

func TestStateBinaryRejects(t *testing.T) {
	t.Parallel()
	good, err := sampleState(10).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	putU64 := func(at int, v uint64) []byte {
		return edit(func(b []byte) []byte { binary.BigEndian.PutUint64(b[at:], v); return b })
	}
	cases := map[string][]byte{
		"empty":                   nil,
		"short":                   good[:40],
		"other magic":             edit(func(b []byte) []byte { b[3] = '2'; return b }),
		"pending cut short":       good[:len(good)-1],
		"extra byte":              append(bytes.Clone(good), 0),
		"header size too small":   putU64(36, 10),
		"header size overflowing": putU64(36, math.MaxUint64),
		"chunk count overflowing": putU64(44, math.MaxInt64),
		"too many pending bytes": func() []byte {
			b := bytes.Clone(good[:stateFixedSize])
			binary.BigEndian.PutUint32(b[52:], ChunkSize+1)
			return append(b, make([]byte, ChunkSize+1)...)
		}(),
		"chunks but no pending bytes": func() []byte {
			b := bytes.Clone(good[:stateFixedSize])
			binary.BigEndian.PutUint32(b[52:], 0)
			return b
		}(),
	}
	for name, b := range cases {
		var st State
		if err := st.UnmarshalBinary(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if st.HeaderSize != 0 || st.Pending != nil {
			t.Errorf("%s: the State was changed", name)
		}
	}
	bad := sampleState(0)
	bad.Chunks = 2
	if _, err := bad.MarshalBinary(); err == nil {
		t.Error("MarshalBinary accepted sealed chunks without pending bytes")
	}
	if _, err := Resume(&bytes.Buffer{}, bad); err == nil {
		t.Error("Resume accepted sealed chunks without pending bytes")
	}
}

// TestStateNotLeaked: a State cannot be encoded as JSON, and printing or
// logging it shows neither the key nor the plaintext.
func TestStateNotLeaked(t *testing.T) {
	t.Parallel()
	st := sampleState(16)
	st.Pending = []byte("PLAINTEXT-SECRET")
	if _, err := json.Marshal(st); err == nil {
		t.Error("json.Marshal(State) succeeded")
	}
	if _, err := json.Marshal(struct{ Age State }{st}); err == nil {
		t.Error("json.Marshal of a struct holding a State succeeded")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("checkpoint", "age", st)
	printed := fmt.Sprintf("%v %+v %#v %s %q %x", st, st, st, st, st, st) + logged.String()
	// The key is 0xab bytes: as a byte slice it prints "171 171", never a
	// lone 171, which a byte count can contain by chance.
	for _, leak := range []string{"PLAINTEXT", "171 171", "abab", "ABAB", "q6ur"} {
		if strings.Contains(printed, leak) {
			t.Errorf("the printed State contains %q: %s", leak, printed)
		}
	}
	if !strings.Contains(printed, "redacted") {
		t.Errorf("the printed State does not say it is redacted: %s", printed)
	}
}
