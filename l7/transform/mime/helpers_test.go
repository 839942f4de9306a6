package mime

import (
	"bytes"
	"encoding/base64"
	"io"
	stdmime "mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustTransform(tb testing.TB, in []byte, o Options) ([]byte, Report) {
	tb.Helper()
	var out bytes.Buffer
	rep, err := Transform(&out, bytes.NewReader(in), o)
	if err != nil {
		tb.Fatalf("Transform: %v", err)
	}
	return out.Bytes(), rep
}

func mustKeys(tb testing.TB) (dev1, dev2 attach.Key) {
	tb.Helper()
	m, err := attach.LoadOrCreateMaster(filepath.Join(tb.TempDir(), "attach.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return m.Key("DEV1", "jane@contoso.com"), m.Key("DEV2", "jane@contoso.com")
}

// upperHTTP is the Text function of the tests: "http" becomes "HTTP".
func upperHTTP(_ string, b []byte) ([]byte, int) {
	n := bytes.Count(b, []byte("http"))
	if n == 0 {
		return b, 0
	}
	return bytes.ReplaceAll(b, []byte("http"), []byte("HTTP")), n
}

// leaf is a leaf part as Go's standard library reads it.
type leaf struct {
	header textproto.MIMEHeader
	body   []byte // decoded from the transfer encoding
}

// leaves parses msg with net/mail and mime/multipart, independently of the
// package under test.
func leaves(tb testing.TB, msg []byte) []leaf {
	tb.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		tb.Fatalf("net/mail: %v", err)
	}
	var out []leaf
	var walk func(h textproto.MIMEHeader, body io.Reader)
	walk = func(h textproto.MIMEHeader, body io.Reader) {
		mt, params, _ := stdmime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					tb.Fatalf("multipart: %v", err)
				}
				walk(p.Header, p)
			}
		}
		if mt == "message/rfc822" {
			raw, _ := io.ReadAll(body)
			out = append(out, leaves(tb, raw)...)
			return
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, leaf{h, decodeStd(tb, h.Get("Content-Transfer-Encoding"), raw)})
	}
	walk(textproto.MIMEHeader(m.Header), m.Body)
	return out
}

func decodeStd(tb testing.TB, cte string, raw []byte) []byte {
	tb.Helper()
	switch strings.ToLower(cte) {
	case "base64":
		s := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' {
				return -1
			}
			return r
		}, string(raw))
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			tb.Fatalf("base64: %v", err)
		}
		return b
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			tb.Fatalf("quoted-printable: %v", err)
		}
		return b
	}
	return raw
}

// checkLines fails if a base64 or quoted-printable body has a line over 76
// characters.
func checkLines(tb testing.TB, msg []byte) {
	tb.Helper()
	for i, l := range bytes.Split(msg, []byte("\n")) {
		if len(bytes.TrimSuffix(l, []byte("\r"))) > 76 && !bytes.Contains(l, []byte(":")) && !bytes.Contains(l, []byte("<")) {
			tb.Errorf("line %d has %d characters: %.40q...", i+1, len(l), l)
		}
	}
}
