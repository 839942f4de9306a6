package eas

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseQuery feeds raw query strings, plain or base64. Whatever parses
// must re-encode in its own form and parse back to the same Query; every
// error must be a *FieldError wrapping a sentinel. Seeds live in
// testdata/fuzz/FuzzParseQuery.
func FuzzParseQuery(f *testing.F) {
	f.Add(specVector)
	f.Add("Cmd=FolderSync&User=fakename&DeviceId=v140Device&DeviceType=SmartPhone")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			checkError(t, err)
			return
		}
		enc, err := q.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed %s query: %v\n%+v", q.Form, err, q)
		}
		again, err := ParseQuery(enc)
		if err != nil {
			t.Fatalf("ParseQuery(%q) (re-encoded from %q): %v", enc, raw, err)
		}
		if diff := cmp.Diff(q, again); diff != "" {
			t.Fatalf("parse(encode(parse(%q))) differs (-first +second):\n%s", raw, diff)
		}
	})
}

// FuzzUnmarshalBinary feeds the decoded bytes of the base64 form directly,
// which reaches the field parser faster than base64 text. decode → encode →
// decode must be stable. Seeds live in testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(fullQueryBytes(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Query
		if err := q.UnmarshalBinary(b); err != nil {
			checkError(t, err)
			return
		}
		out, err := q.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded query: %v\n%+v", err, q)
		}
		var again Query
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("UnmarshalBinary(% X) (re-encoded from % X): %v", out, b, err)
		}
		if diff := cmp.Diff(q, again); diff != "" {
			t.Fatalf("decode(encode(decode(x))) differs (-first +second):\n%s", diff)
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	for _, s := range []error{ErrMissing, ErrTruncated, ErrBadBase64, ErrUnknownCommand, ErrUnknownParameter, ErrDuplicate, ErrBadValue} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}
