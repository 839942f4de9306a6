package wbxml

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzLimits keep each input's memory small while still allowing every
// construct.
var fuzzLimits = Limits{MaxDepth: 32, MaxSize: 1 << 20, MaxString: 1 << 16, MaxOpaque: 1 << 16, MaxNodes: 1 << 14}

// FuzzRoundTrip checks, for any input: no panic; every error is a
// *SyntaxError wrapping a sentinel; the tree and streaming decoders agree on
// what they accept; and whatever decodes re-encodes to the very same bytes
// and decodes again to the same tree. Seeds live in
// testdata/fuzz/FuzzRoundTrip and are added from validCases.
func FuzzRoundTrip(f *testing.F) {
	for _, tc := range validCases(f) {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tree, err := DecodeWithLimits(in, fuzzLimits)
		piped, perr := pipe(in, fuzzLimits)
		if err != nil {
			checkDecodeError(t, err)
			// Only MaxNodes is specific to the tree decoder.
			if perr == nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("tree decode failed (%v) but the token stream passed", err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("tree decode passed but the token stream failed: %v", perr)
		}
		if !bytes.Equal(piped, in) {
			t.Fatalf("token pipe changed the bytes:\n in % X\nout % X", in, piped)
		}
		out, err := Encode(tree)
		if err != nil {
			t.Fatalf("Encode of a decoded tree: %v\n%s", err, tree)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("Encode(Decode(x)) != x:\n in % X\nout % X\n%s", in, out, tree)
		}
		again, err := DecodeWithLimits(out, fuzzLimits)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(tree, again); diff != "" {
			t.Fatalf("Decode(Encode(tree)) differs (-first +second):\n%s", diff)
		}
		_ = Format(tree, FormatOptions{MaxValue: 64})
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
	}
	for _, s := range []error{ErrTruncated, ErrMalformed, ErrUnsupported, ErrTooDeep, ErrTooLarge} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}
