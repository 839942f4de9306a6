package links

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustNew(tb testing.TB, cfg Config) *Rewriter {
	tb.Helper()
	r, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

func TestHTML(t *testing.T) {
	all := Config{}
	include := Config{Mode: Include, Domains: []string{"Example.COM", "*.intra.test", "192.0.2.7", "[2001:db8::1]"}}
	exclude := Config{Mode: Exclude, Domains: []string{".example.com"}}
	for _, tc := range []struct {
		name string
		cfg  Config
		in   string
		want string
		n    int
	}{
		{"double quotes", all, `<a href="https://h/p">x</a>`, `<a href="mibrowsers://h/p">x</a>`, 1},
		{"single quotes", all, `<a href='http://h/p'>x</a>`, `<a href='mibrowser://h/p'>x</a>`, 1},
		{"unquoted", all, `<a href=https://h/p>x</a>`, `<a href=mibrowsers://h/p>x</a>`, 1},
		{"case", all, `<A HREF="HTTPS://H/P">x</A>`, `<A HREF="mibrowsers://H/P">x</A>`, 1},
		{"mixed case scheme", all, `<a href="hTtP://h">`, `<a href="mibrowser://h">`, 1},
		{"space around =", all, "<a\n  href \t=\r\n 'https://h'>", "<a\n  href \t=\r\n 'mibrowsers://h'>", 1},
		{"leading space in value", all, `<a href="  https://h">`, `<a href="  mibrowsers://h">`, 1},
		{"area", all, `<map><area shape=rect href="http://h/a"></map>`, `<map><area shape=rect href="mibrowser://h/a"></map>`, 1},
		{"other attributes first", all, `<a class="x>" title='https://t' href="https://h">`, `<a class="x>" title='https://t' href="mibrowsers://h">`, 1},
		{"slash separated attributes", all, `<a/href="https://h">`, `<a/href="mibrowsers://h">`, 1},
		{"attributes without space", all, `<a id="x"href="https://h">`, `<a id="x"href="mibrowsers://h">`, 1},
		{"first href only", all, `<a href="https://a" href="https://b">`, `<a href="mibrowsers://a" href="https://b">`, 1},
		{"two links", all, `<p><a href="https://a">a</a> <a href="http://b">b</a>`, `<p><a href="mibrowsers://a">a</a> <a href="mibrowser://b">b</a>`, 2},
		{"img src", all, `<img src="https://h/i.png"><a href="https://h">`, `<img src="https://h/i.png"><a href="mibrowsers://h">`, 1},
		{"link href", all, `<link rel=stylesheet href="https://h/s.css">`, `<link rel=stylesheet href="https://h/s.css">`, 0},
		{"abbr is not a", all, `<abbr href="https://h"><address href="https://h">`, `<abbr href="https://h"><address href="https://h">`, 0},
		{"text", all, `<p>see https://h/p</p>`, `<p>see https://h/p</p>`, 0},
		{"comment", all, `<!-- <a href="https://h"> --><a href="https://i">`, `<!-- <a href="https://h"> --><a href="mibrowsers://i">`, 1},
		{"comment --!>", all, `<!-- x --!><a href="https://i">`, `<!-- x --!><a href="mibrowsers://i">`, 1},
		{"empty comment", all, `<!--><a href="https://i">`, `<!--><a href="mibrowsers://i">`, 1},
		{"unterminated comment", all, `<!-- <a href="https://h">`, `<!-- <a href="https://h">`, 0},
		{"script", all, `<script>x='<a href="https://h">'</script ><a href="https://i">`, `<script>x='<a href="https://h">'</script ><a href="mibrowsers://i">`, 1},
		{"style", all, `<STYLE>a{background:url(https://h)} <a href="https://h"></style><a href="https://i">`, `<STYLE>a{background:url(https://h)} <a href="https://h"></style><a href="mibrowsers://i">`, 1},
		{"title", all, `<title><a href="https://h"></title>`, `<title><a href="https://h"></title>`, 0},
		{"textarea not closed by prefix", all, `<textarea></textareax><a href="https://h"></textarea>`, `<textarea></textareax><a href="https://h"></textarea>`, 0},
		{"plaintext", all, `<plaintext></plaintext><a href="https://h">`, `<plaintext></plaintext><a href="https://h">`, 0},
		{"end tag attributes", all, `</a href="https://h"><a href="https://i">`, `</a href="https://h"><a href="mibrowsers://i">`, 1},
		{"doctype", all, `<!DOCTYPE html><a href="https://i">`, `<!DOCTYPE html><a href="mibrowsers://i">`, 1},
		{"lone <", all, `1 < 2 <a href="https://i">`, `1 < 2 <a href="mibrowsers://i">`, 1},
		{"unterminated value", all, `<a href="https://h`, `<a href="https://h`, 0},
		{"unterminated tag", all, `<a href=https://h`, `<a href=https://h`, 0},
		{"no value", all, `<a href>x</a><a href=>`, `<a href>x</a><a href=>`, 0},
		{"relative", all, `<a href="/p"><a href="mailto:x@h"><a href="httpx://h"><a href="https:/h"><a href="https:h">`, `<a href="/p"><a href="mailto:x@h"><a href="httpx://h"><a href="https:/h"><a href="https:h">`, 0},
		{"no host", all, `<a href="https://">`, `<a href="https://">`, 0},
		{"entity colon", all, `<a href="https&#58;//h">`, `<a href="mibrowsers&#58;//h">`, 1},
		{"entity hex colon and slashes", all, `<a href="http&#x3A;&#x2f;&sol;h">`, `<a href="mibrowser&#x3A;&#x2f;&sol;h">`, 1},
		{"entity colon no semicolon", all, `<a href="https&#58//h">`, `<a href="mibrowsers&#58//h">`, 1},
		{"named colon", all, `<a href="https&colon;//h">`, `<a href="mibrowsers&colon;//h">`, 1},
		{"encoded scheme letter", all, `<a href="&#104;ttps://h">`, `<a href="&#104;ttps://h">`, 0},
		{"newline in separator", all, "<a href=\"https:/\n/h\">", "<a href=\"mibrowsers:/\n/h\">", 1},
		{"invalid utf-8 kept", all, "\xff\xfe<a href=\"https://h\xc3\">\x80", "\xff\xfe<a href=\"mibrowsers://h\xc3\">\x80", 1},
		{"latin1 text kept", all, "<p>caf\xe9</p><a href='https://h'>", "<p>caf\xe9</p><a href='mibrowsers://h'>", 1},

		{"include domain", include, `<a href="https://example.com/">`, `<a href="mibrowsers://example.com/">`, 1},
		{"include subdomain", include, `<a href="https://WWW.Example.Com:8443/x">`, `<a href="mibrowsers://WWW.Example.Com:8443/x">`, 1},
		{"include star form", include, `<a href="https://intra.test"><a href="https://a.b.intra.test">`, `<a href="mibrowsers://intra.test"><a href="mibrowsers://a.b.intra.test">`, 2},
		{"include other", include, `<a href="https://notexample.com/"><a href="https://example.com.evil.test/">`, `<a href="https://notexample.com/"><a href="https://example.com.evil.test/">`, 0},
		{"include user info", include, `<a href="https://example.com@evil.test/"><a href="https://u:p@example.com/">`, `<a href="https://example.com@evil.test/"><a href="mibrowsers://u:p@example.com/">`, 1},
		{"include trailing dot", include, `<a href="http://example.com./">`, `<a href="mibrowser://example.com./">`, 1},
		{"include entity host", include, `<a href="https://example&period;com/"><a href="https://ex&#97;mple.com">`, `<a href="mibrowsers://example&period;com/"><a href="mibrowsers://ex&#97;mple.com">`, 2},
		{"include percent host", include, `<a href="https://ex%61mple.com/">`, `<a href="mibrowsers://ex%61mple.com/">`, 1},
		{"include query and fragment", include, `<a href="https://example.com?q"><a href="https://example.com#f"><a href="https://evil.test?example.com">`, `<a href="mibrowsers://example.com?q"><a href="mibrowsers://example.com#f"><a href="https://evil.test?example.com">`, 2},
		{"include backslash ends host", include, `<a href="https://example.com\@evil.test">`, `<a href="mibrowsers://example.com\@evil.test">`, 1},
		{"include addresses", include, `<a href="http://192.0.2.7:80/"><a href="http://192.0.2.8/"><a href="https://[2001:DB8::1]/">`, `<a href="mibrowser://192.0.2.7:80/"><a href="http://192.0.2.8/"><a href="mibrowsers://[2001:DB8::1]/">`, 2},
		{"exclude", exclude, `<a href="https://example.com"><a href="https://www.example.com"><a href="https://other.test">`, `<a href="https://example.com"><a href="https://www.example.com"><a href="mibrowsers://other.test">`, 1},
		{"custom schemes", Config{HTTPScheme: "AWB", HTTPSScheme: "awbs"}, `<a href="http://h"><a href="https://h">`, `<a href="awb://h"><a href="awbs://h">`, 2},
		{"upgrade only", Config{HTTPScheme: "https", HTTPSScheme: "https"}, `<a href="http://h"><a href="https://h">`, `<a href="https://h"><a href="https://h">`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, tc.cfg)
			in := []byte(tc.in)
			got, n := r.HTML(in)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("HTML(%q) (-want +got):\n%s", tc.in, diff)
			}
			if n != tc.n {
				t.Errorf("HTML(%q) n = %d, want %d", tc.in, n, tc.n)
			}
			if string(in) != tc.in {
				t.Errorf("HTML changed its input to %q", in)
			}
			if n == 0 && len(in) > 0 && &got[0] != &in[0] {
				t.Errorf("HTML(%q) returned a copy, want src itself", tc.in)
			}
		})
	}
}
