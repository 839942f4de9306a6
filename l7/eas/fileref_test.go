package eas

import (
	"net/url"
	"strings"
	"testing"
)

func TestFileReferenceKey(t *testing.T) {
	const want = "1:11:1"
	for _, ref := range []string{
		"1%3a11%3a1",         // as Exchange lists it
		"1:11:1",             // the plain query's AttachmentName=1%3a11%3a1, decoded once
		"1%3A11%3A1",         // upper-case escapes
		"1%253a11%253a1",     // percent-encoded once more
		"1%25253a11%25253a1", // and again
		"1%3a11:1",           // mixed
	} {
		if got, ok := FileReferenceKey(ref); !ok || got != want {
			t.Errorf("FileReferenceKey(%q) = %q, %v; want %q", ref, got, ok, want)
		}
	}
	for _, tc := range []struct{ ref, want string }{
		{"RgAAAA+x/Y%3d:2", "rgaaaa x/y=:2"},
		{"50%zz", "50%zz"},
		{"100%", "100%"},
		{"%2541", "a"}, // %2541 → %41 → A → a
	} {
		if got, ok := FileReferenceKey(tc.ref); !ok || got != tc.want {
			t.Errorf("FileReferenceKey(%q) = %q, %v; want %q", tc.ref, got, ok, tc.want)
		}
	}
	if _, ok := FileReferenceKey(""); ok {
		t.Error("empty reference has a key")
	}
	deep := "a:b"
	for range MaxFileReferenceRounds + 1 {
		deep = url.PathEscape(deep)
		deep = strings.ReplaceAll(deep, ":", "%3A")
	}
	if k, ok := FileReferenceKey(deep); ok {
		t.Errorf("%d layers of encoding accepted as %q", MaxFileReferenceRounds+1, k)
	}
}

// FuzzFileReferenceKey: a key is its own key, and encoding a reference
// once more never moves it to another key.
func FuzzFileReferenceKey(f *testing.F) {
	for _, s := range []string{"1%3a11%3a1", "5:3:0", "RgAA+/=%2B", "%%25zz%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		k, ok := FileReferenceKey(ref)
		if !ok {
			return
		}
		if again, ok := FileReferenceKey(k); !ok || again != k {
			t.Fatalf("key %q of %q is not its own key: %q, %v", k, ref, again, ok)
		}
		for _, enc := range []string{url.QueryEscape(ref), url.PathEscape(ref)} {
			if ek, ok := FileReferenceKey(enc); ok && ek != k {
				t.Fatalf("%q has key %q, its encoding %q has %q", ref, k, enc, ek)
			}
		}
	})
}
