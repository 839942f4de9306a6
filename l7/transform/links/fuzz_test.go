package links

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzRewrite checks, for HTML and Text under each mode, that the
// rewriters never panic, change nothing but schemes (the output is the
// input with some "http"/"https" replaced by their targets), leave their
// input alone, return it when they change nothing, and leave nothing to
// do in their own output.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		`<a href="https://h/p">x</a>`,
		`<A HREF=HTTP://example.com>`,
		`<a href='https&#58;//www.example.com:8/'><area href="http&#x3a;&sol;/x">`,
		`<!-- <a href="https://h"> --><script><a href="https://h"></script><a href=https://i>`,
		`<title>x</title><a/href="https://u:p@example.com@other.test">`,
		"see https://example.com/a, (http://[2001:db8::1]:80/) and https://e.test.",
		"\xff<a href=\"https://ex%61mple.com\xc3\">https://x\x00",
		"https://r.test/?u=https://h/ xhttps://h",
	} {
		for m := range 3 {
			f.Add([]byte(s), uint8(m))
		}
	}
	rws := [3]*Rewriter{
		mustNew(f, Config{}),
		mustNew(f, Config{Mode: Include, Domains: []string{"example.com", "192.0.2.1", "2001:db8::1"}}),
		mustNew(f, Config{Mode: Exclude, HTTPScheme: "s-http", HTTPSScheme: "s.https", Domains: []string{"e.test"}}),
	}
	f.Fuzz(func(t *testing.T, src []byte, mode uint8) {
		r := rws[int(mode)%len(rws)]
		orig := bytes.Clone(src)
		for _, kind := range []string{"html", "text"} {
			type edit struct {
				off, oldLen int
				to          []byte
			}
			var edits []edit
			e := editor{r: r, src: src, traceEdit: func(off, oldLen int, to []byte) {
				edits = append(edits, edit{off, oldLen, to})
			}}
			run := r.HTML
			if kind == "html" {
				e.html()
			} else {
				e.text()
				run = r.Text
			}
			out, n := e.result()
			if pub, pn := run(src); !bytes.Equal(pub, out) || pn != n {
				t.Fatalf("%s: traced run and public run differ", kind)
			}
			if !bytes.Equal(src, orig) {
				t.Fatalf("%s changed its input", kind)
			}
			if n != len(edits) {
				t.Fatalf("%s: n = %d, %d edits", kind, n, len(edits))
			}
			if n == 0 {
				if len(src) > 0 && &out[0] != &src[0] {
					t.Fatalf("%s: nothing rewritten but a copy returned", kind)
				}
				continue
			}
			// Rebuild the output from the edits: everything outside them
			// is the input's bytes.
			var want []byte
			last := 0
			for _, ed := range edits {
				if ed.off < last {
					t.Fatalf("%s: edits overlap or go backwards at %d", kind, ed.off)
				}
				old := src[ed.off : ed.off+ed.oldLen]
				if !equalFold(old, "https") && !equalFold(old, "http") || !bytes.Equal(ed.to, r.http) && !bytes.Equal(ed.to, r.https) {
					t.Fatalf("%s: edit %q -> %q", kind, old, ed.to)
				}
				want = append(append(want, src[last:ed.off]...), ed.to...)
				last = ed.off + ed.oldLen
			}
			want = append(want, src[last:]...)
			if !bytes.Equal(want, out) {
				t.Fatalf("%s: output differs from the input outside the schemes:\n in  %q\n out %q", kind, src, out)
			}
			// The targets are not http or https: a second pass has
			// nothing left to do.
			if again, n2 := run(out); n2 != 0 || !bytes.Equal(again, out) {
				t.Fatalf("%s: second pass rewrote %d more:\n in  %q\n out %q\n out2 %q", kind, n2, src, out, again)
			}
		}
	})
}

// FuzzReadDomainsCSV feeds arbitrary files to the domain list loader: it
// must never panic, every refusal must name the file, and what it accepts
// must be normalized, free of duplicates, and accepted by New.
func FuzzReadDomainsCSV(f *testing.F) {
	for _, s := range []string{
		"domain\nexample.com\n*.Contoso.COM.\n",
		"\uFEFFdomain,comment\n'intranet.test,x\n# note\n\n192.0.2.1\n",
		"example.com\nexample.com\n[2001:db8::1]\n",
		"domain\n\"a,b\"\n",
		"domain\nhttps://x/\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		domains, err := ReadDomainsCSV(bytes.NewReader(in), "in.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "in.csv") || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error does not name the file or wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, d := range domains {
			n, a, err := normalizeDomain(d)
			if a.IsValid() {
				n = a.String()
			}
			if err != nil || n != d {
				t.Fatalf("domain %q comes back not normalized (%q, %v)", d, n, err)
			}
			if seen[d] {
				t.Fatalf("domain %q twice", d)
			}
			seen[d] = true
		}
		if len(domains) == 0 {
			return // an empty list is the config's own error to report
		}
		if _, err := New(Config{Mode: Include, Domains: domains}); err != nil {
			t.Fatalf("New refuses what ReadDomainsCSV accepted: %v", err)
		}
	})
}
