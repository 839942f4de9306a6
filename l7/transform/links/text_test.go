package links

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestText(t *testing.T) {
	all := Config{}
	include := Config{Mode: Include, Domains: []string{"example.com"}}
	for _, tc := range []struct {
		name string
		cfg  Config
		in   string
		want string
		n    int
	}{
		{"plain", all, "see https://h/p now", "see mibrowsers://h/p now", 1},
		{"http", all, "http://h", "mibrowser://h", 1},
		{"case", all, "HTTPS://H and Http://h", "mibrowsers://H and mibrowser://h", 2},
		{"line start and end", all, "https://a\r\nhttp://b\n", "mibrowsers://a\r\nmibrowser://b\n", 2},
		{"angle brackets", all, "<https://h/p>", "<mibrowsers://h/p>", 1},
		{"quoted", all, `"https://h/p"`, `"mibrowsers://h/p"`, 1},
		{"parenthesis", all, "(https://h/p)", "(mibrowsers://h/p)", 1},
		{"scheme char before", all, "xhttps://h 1http://h a.https://h a-http://h", "xhttps://h 1http://h a.https://h a-http://h", 0},
		{"punctuation before", all, "x:https://h, (http://i)", "x:mibrowsers://h, (mibrowser://i)", 2},
		{"comma inside", all, "https://h/a,http://i", "mibrowsers://h/a,http://i", 1},
		{"no host", all, "https:// and https:///p and http://?", "https:// and https:///p and http://?", 0},
		{"other schemes", all, "ftp://h mailto:x@h httpx://h", "ftp://h mailto:x@h httpx://h", 0},
		{"nested url", all, "https://r.test/?u=https://h/", "mibrowsers://r.test/?u=https://h/", 1},
		{"nested in other scheme", all, "xhttps://r.test/?u=https://h/ foo://x?https://h", "xhttps://r.test/?u=https://h/ foo://x?https://h", 0},
		{"invalid utf-8", all, "\xff https://h\xfe\x80 \xc3", "\xff mibrowsers://h\xfe\x80 \xc3", 1},

		{"include", include, "https://example.com/a https://evil.test/b", "mibrowsers://example.com/a https://evil.test/b", 1},
		{"include trailing dot", include, "Go to https://www.example.com.", "Go to mibrowsers://www.example.com.", 1},
		{"include trailing punctuation", include, "at https://example.com!? or https://example.com:", "at mibrowsers://example.com!? or mibrowsers://example.com:", 2},
		{"include unbalanced paren", include, "(see https://example.com)", "(see mibrowsers://example.com)", 1},
		{"include balanced paren", include, "https://example.com(x)", "https://example.com(x)", 0},
		{"include host ends at space", include, "https://example.com evil.test", "mibrowsers://example.com evil.test", 1},
		{"include port", include, "http://example.com:8080/", "mibrowser://example.com:8080/", 1},
		{"include entity not decoded", include, "https://example&#46;com", "https://example&#46;com", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, tc.cfg)
			in := []byte(tc.in)
			got, n := r.Text(in)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("Text(%q) (-want +got):\n%s", tc.in, diff)
			}
			if n != tc.n {
				t.Errorf("Text(%q) n = %d, want %d", tc.in, n, tc.n)
			}
			if n == 0 && len(in) > 0 && &got[0] != &in[0] {
				t.Errorf("Text(%q) returned a copy, want src itself", tc.in)
			}
		})
	}
}
