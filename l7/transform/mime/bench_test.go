package mime

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// benchMessage is a newsletter-like message: about 100 KB of HTML in
// quoted-printable with a plain alternative, and a 1 MB attachment.
func benchMessage(tb testing.TB) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var html strings.Builder
	html.WriteString("<html><body>\n")
	for html.Len() < 100<<10 {
		html.WriteString(`<p style="font-family:Arial">Read about our café <a href="http://news.example.com/story/`)
		html.WriteString(strings.Repeat("x", r.IntN(20)))
		html.WriteString(`">here</a> and more text to make a paragraph of realistic length.</p>` + "\n")
	}
	html.WriteString("</body></html>\n")
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(html.String()))
	w.Close()
	att := make([]byte, 1<<20)
	for i := range att {
		att[i] = byte(r.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(att)
	var b64 strings.Builder
	for len(enc) > 76 {
		b64.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b64.WriteString(enc)
	return []byte("From: news@example.com\r\nSubject: bench\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n" +
		"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nSee http://news.example.com/ for the news.\r\n--a\r\n" +
		"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		qp.String() + "\r\n--a--\r\n--m\r\n" +
		"Content-Type: application/pdf; name=report.pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64.String() + "\r\n--m--\r\n")
}

func benchTransform(b *testing.B, o Options) {
	in := benchMessage(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Transform(io.Discard, bytes.NewReader(in), o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransformNoop(b *testing.B) { benchTransform(b, Options{}) }

func BenchmarkTransformText(b *testing.B) { benchTransform(b, Options{Text: upperHTTP}) }

func BenchmarkTransformEncrypt(b *testing.B) {
	k, _ := mustKeys(b)
	benchTransform(b, Options{
		Text:       upperHTTP,
		Attachment: func(string, string) attach.Action { return attach.Encrypt },
		Encrypt:    func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, k) },
	})
}
