package csvcell_test

import (
	"encoding/csv"
	"strings"
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

// TestWriter: every cell the Writer writes is escaped, and reads back
// (csv, then Unescape) as written.
func TestWriter(t *testing.T) {
	var b strings.Builder
	w := csvcell.NewWriter(&b)
	rows := [][]string{{"device_id", "user"}, {"=HYPERLINK(\"x\")", "@evil"}, {"plain", "-1"}}
	for _, r := range rows {
		w.Write(r...)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "device_id,user\n\"'=HYPERLINK(\"\"x\"\")\",'@evil\nplain,'-1\n"
	if b.String() != want {
		t.Errorf("written %q, want %q", b.String(), want)
	}
	got, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		for j := range got[i] {
			if c := csvcell.Unescape(got[i][j]); c != rows[i][j] {
				t.Errorf("row %d cell %d reads back %q, want %q", i, j, c, rows[i][j])
			}
		}
	}
}
