package mime

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

func FuzzTransform(f *testing.F) {
	for _, name := range corpus {
		f.Add(mustRead(f, name))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\n\n--a--"))
	f.Add([]byte("Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: quoted-printable\n\n=FF=FEh=00t=00"))
	k, _ := mustKeys(f)
	const maxPart, maxHeader = 4 << 10, 2 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		_, err := Transform(&out, bytes.NewReader(in), Options{MaxPartBytes: maxPart, MaxHeaderBytes: maxHeader, MaxDepth: 8})
		if errors.Is(err, ErrLimit) {
			return
		}
		if err != nil {
			t.Fatalf("no-op: %v", err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("no-op output differs:\n in %q\nout %q", in, out.Bytes())
		}
		i := 0
		o := Options{
			MaxPartBytes: maxPart, MaxHeaderBytes: maxHeader, MaxDepth: 8,
			Text: func(sub string, b []byte) ([]byte, int) {
				if len(b) > 2*maxPart {
					t.Fatalf("Text got %d bytes, limit %d", len(b), maxPart)
				}
				if sub != "plain" && sub != "html" {
					t.Fatalf("Text subtype %q", sub)
				}
				return append(bytes.ReplaceAll(b, []byte("http"), []byte("HTTP")), "é"...), 1
			},
			Attachment:     func(string, string) attach.Action { i++; return attach.Action(i % 3) },
			Opaque:         attach.Action(len(in) % 3),
			MaxSignedBytes: 4 << 10,
			Encrypt:        func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, k) },
			Classify: func(s string, _ textproto.MIMEHeader) (bool, []byte) {
				return bytes.Contains([]byte(s), []byte("SECRET")), nil
			},
		}
		rep, err := Transform(io.Discard, bytes.NewReader(in), o)
		if err != nil && !errors.Is(err, ErrLimit) {
			t.Fatalf("transform: %v", err)
		}
		if rep.AttachmentsBlocked < 0 {
			t.Fatal("impossible report")
		}
	})
}
