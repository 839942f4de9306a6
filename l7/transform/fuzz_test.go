package transform

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// FuzzWBXML feeds arbitrary responses to a plan that changes everything
// it can and to one that matches nothing: neither may panic; whatever the
// busy plan writes for a document it accepts is WBXML again; the idle plan
// gives back an accepted document byte for byte.
func FuzzWBXML(f *testing.F) {
	f.Add(encode(f, syncResponse(T("Email:Subject", "[SECRET] x"), htmlBody(`<a href="https://x.test/">x</a>`),
		E("AirSyncBase:Attachments", attachment("a.exe", "r1", 10), attachment("b.pdf", "r2", 20)))))
	f.Add(encode(f, syncResponse(T("Email:Body", "see https://x.test/"))))
	f.Add(encode(f, E("ItemOperations:ItemOperations", E("ItemOperations:Response", E("ItemOperations:Fetch",
		T("ItemOperations:Status", "1"), T("AirSyncBase:FileReference", "r.pdf"),
		E("ItemOperations:Properties", T("ItemOperations:Data", "aGVsbG8=")))))))
	f.Add([]byte{3, 1, 0x6a, 0})
	busy := &Plan{HTML: schemeRewrite, Text: schemeRewrite, Attachment: byExtension, Encrypt: fakeEncrypt,
		EncryptedSize: func(n int64) int64 { return n + 4 }, BlockedNotice: "removed",
		Classify: func(s string) (bool, []byte) { return strings.Contains(s, "SECRET"), []byte("blocked") },
		MIME: func(w io.Writer, r io.Reader) (MIMEReport, error) {
			_, err := io.Copy(w, r)
			return MIMEReport{}, err
		}, SMIMEPassThrough: true}
	idle := &Plan{HTML: func(b []byte) ([]byte, int) { return b, 0 }, Attachment: func(string, string) attach.Action { return attach.Allow }}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if _, err := busy.WBXML(&out, bytes.NewReader(in), Limits{MaxItemBytes: 1 << 20}); err == nil {
			if _, err := wbxml.Decode(out.Bytes()); err != nil && len(in) > 0 {
				t.Fatalf("busy plan wrote invalid WBXML: %v\nin % X\nout % X", err, in, out.Bytes())
			}
		}
		out.Reset()
		if _, err := idle.WBXML(&out, bytes.NewReader(in), Limits{MaxItemBytes: 1 << 20}); err == nil {
			if _, derr := wbxml.Decode(in); derr == nil && !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("idle plan changed a document:\nin  % X\nout % X", in, out.Bytes())
			}
		}
	})
}
