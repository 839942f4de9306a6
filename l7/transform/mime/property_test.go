package mime

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// genMessage writes a random MIME tree: nested multiparts with preambles
// and epilogues, leaves of several types in random transfer encodings,
// CRLF or LF throughout.
func genMessage(r *rand.Rand) []byte {
	eol := "\r\n"
	if r.IntN(2) == 0 {
		eol = "\n"
	}
	var b strings.Builder
	b.WriteString("From: a@example.com" + eol + "Subject: test " + fmt.Sprint(r.Int()) + eol + "MIME-Version: 1.0" + eol)
	genEntity(r, &b, eol, 0)
	return []byte(b.String())
}

func genText(r *rand.Rand, eol string) string {
	words := []string{"hello", "http://example.com/a?b=c", "café", "a=b", " ", "\t", "naïve", "https://x.test/", "long" + strings.Repeat("o", 90), "€", "."}
	var s strings.Builder
	for range r.IntN(40) {
		s.WriteString(words[r.IntN(len(words))])
		switch r.IntN(6) {
		case 0:
			s.WriteString(eol)
		case 1:
			s.WriteString(" ")
		}
	}
	return s.String()
}

func genEntity(r *rand.Rand, b *strings.Builder, eol string, depth int) {
	if depth < 4 && r.IntN(3) == 0 {
		bd := fmt.Sprintf("b%d_%x", depth, r.Uint32())
		sub := []string{"mixed", "alternative", "related"}[r.IntN(3)]
		b.WriteString("Content-Type: multipart/" + sub + ";" + eol + "\tboundary=\"" + bd + "\"" + eol + eol)
		if r.IntN(2) == 0 {
			b.WriteString("preamble " + genText(r, eol) + eol)
		}
		for range 1 + r.IntN(3) {
			b.WriteString("--" + bd + eol)
			genEntity(r, b, eol, depth+1)
			b.WriteString(eol)
		}
		b.WriteString("--" + bd + "--" + eol)
		if r.IntN(2) == 0 {
			b.WriteString("epilogue " + genText(r, eol) + eol)
		}
		return
	}
	types := []string{"text/plain; charset=utf-8", "text/html; charset=\"UTF-8\"", "text/plain", "application/octet-stream; name=x.bin", "image/png"}
	ct := types[r.IntN(len(types))]
	b.WriteString("Content-Type: " + ct + eol)
	if r.IntN(4) == 0 {
		b.WriteString("Content-Disposition: attachment; filename=\"f.txt\"" + eol)
	}
	text := genText(r, eol)
	var body string
	switch r.IntN(4) {
	case 0:
		b.WriteString("Content-Transfer-Encoding: base64" + eol)
		enc := base64.StdEncoding.EncodeToString([]byte(text))
		var lines []string
		for len(enc) > 76 {
			lines, enc = append(lines, enc[:76]), enc[76:]
		}
		body = strings.Join(append(lines, enc), eol)
	case 1:
		b.WriteString("Content-Transfer-Encoding: quoted-printable" + eol)
		var q bytes.Buffer
		w := quotedprintable.NewWriter(&q)
		w.Write([]byte(text))
		w.Close()
		body = strings.ReplaceAll(q.String(), "\r\n", eol)
	case 2:
		b.WriteString("Content-Transfer-Encoding: 8bit" + eol)
		body = text
	default:
		body = text
	}
	b.WriteString(eol + body)
}

func TestPropertyPassThrough(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2024))
	for i := range 400 {
		in := genMessage(r)
		out, rep := mustTransform(t, in, Options{Text: func(_ string, b []byte) ([]byte, int) { return b, 0 }})
		if !bytes.Equal(out, in) || rep.Changed {
			t.Fatalf("message %d changed:\n%s", i, in)
		}
	}
}

// TestPropertyReencode forces every text part through decoding and
// re-encoding (Text reports a change without changing the text): the
// standard library must then read the same content as from the input.
func TestPropertyReencode(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2024))
	for i := range 400 {
		in := genMessage(r)
		out, _ := mustTransform(t, in, Options{Text: func(_ string, b []byte) ([]byte, int) { return b, 1 }})
		a, b := leaves(t, in), leaves(t, out)
		if len(a) != len(b) {
			t.Fatalf("message %d: %d leaves, want %d", i, len(b), len(a))
		}
		for j := range a {
			if !bytes.Equal(a[j].body, b[j].body) {
				t.Fatalf("message %d leaf %d:\n got %q\nwant %q\ninput:\n%s\noutput:\n%s", i, j, b[j].body, a[j].body, in, out)
			}
		}
		for _, l := range bytes.Split(out, []byte("\n")) {
			// A quoted-printable soft line: at most 76 characters.
			if l = bytes.TrimSuffix(l, []byte("\r")); bytes.HasSuffix(l, []byte("=")) && len(l) > 76 {
				t.Fatalf("message %d: line of %d characters: %q", i, len(l), l)
			}
		}
	}
}
