package csvcell_test

import (
	"testing"

	"github.com/mailgate/enforcer/l7/csvcell"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"\n=1", "'\n=1"},
		{"\x00=1", "'\x00=1"},
		{"'quoted", "''quoted"},
	} {
		got := csvcell.Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back := csvcell.Unescape(got); back != tc.in {
			t.Errorf("Unescape(%q) = %q, want %q", got, back, tc.in)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "=1", "'=1", "''", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := csvcell.Escape(s)
		if e != "" && e[0] != '\'' {
			switch e[0] {
			case '=', '+', '-', '@', '\t', '\r', '\n', 0:
				t.Fatalf("Escape(%q) = %q starts a formula", s, e)
			}
		}
		if back := csvcell.Unescape(e); back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q", s, back)
		}
	})
}
