package devicesync

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestUTF8Reader checks that sequences cut at every read boundary pass,
// and that a bad byte anywhere fails, whatever the read sizes.
func TestUTF8Reader(t *testing.T) {
	good := bytes.Repeat([]byte(`{"user":"Jürgen Ωmega 日本 🙂"}`), 300) // > 4096 bytes, sequences cross fills
	for _, tc := range []struct {
		name string
		in   []byte
		bad  bool
	}{
		{"ascii", []byte(`{"a":"b"}`), false},
		{"multibyte", good, false},
		{"latin1", []byte("{\"user\":\"J\xfcrgen\"}"), true},
		{"bad late", append(append([]byte(nil), good...), 0xff), true},
		{"cut at end", append(append([]byte(nil), good...), 0xe6, 0x97), true},
		{"surrogate", []byte("\xed\xa0\x80"), true},
	} {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"one byte", iotest.OneByteReader}, {"half", iotest.HalfReader}} {
			t.Run(tc.name+"/"+wrap.name, func(t *testing.T) {
				got, err := io.ReadAll(&utf8Reader{r: wrap.f(bytes.NewReader(tc.in))})
				if tc.bad {
					if !errors.Is(err, errNotUTF8) {
						t.Fatalf("err %v, want errNotUTF8", err)
					}
					return
				}
				if err != nil || !bytes.Equal(got, tc.in) {
					t.Fatalf("err %v; got %d bytes, want %d, equal %v", err, len(got), len(tc.in), bytes.Equal(got, tc.in))
				}
			})
		}
	}
}
