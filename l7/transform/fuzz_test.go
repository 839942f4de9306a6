package transform

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
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
	mimeMsg := "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/html\r\n\r\n<a href=\"https://x.test/\">x</a>\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=run.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--b--\r\n"
	f.Add(encode(f, syncResponse(T("Email:Subject", "hi"), E("AirSyncBase:Body", T("AirSyncBase:Type", "4"),
		T("AirSyncBase:EstimatedDataSize", "300"), T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mimeMsg)))))
	busy := &Plan{HTML: schemeRewrite, Text: schemeRewrite, Attachment: byExtension, Encrypt: fakeEncrypt,
		EncryptedSize: func(n int64) int64 { return n + 4 }, BlockedNotice: "removed",
		Classify: func(s string) (bool, []byte) { return strings.Contains(s, "SECRET"), []byte("blocked") },
		MIME: func(w io.Writer, r io.Reader) (MIMEReport, error) {
			_, err := io.Copy(w, r)
			return MIMEReport{}, err
		}}
	idle := &Plan{HTML: func(b []byte) ([]byte, int) { return b, 0 }, Attachment: func(string, string) attach.Action { return attach.Allow }}
	real := realPlan(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if _, err := busy.WBXML(&out, bytes.NewReader(in), Limits{MaxItemBytes: 1 << 20}); err == nil {
			if _, err := wbxml.Decode(out.Bytes()); err != nil && len(in) > 0 {
				t.Fatalf("busy plan wrote invalid WBXML: %v\nin % X\nout % X", err, in, out.Bytes())
			}
		}
		out.Reset()
		if _, err := real.WBXML(&out, bytes.NewReader(in), Limits{MaxItemBytes: 1 << 20}); err == nil && len(in) > 0 {
			if _, err := wbxml.Decode(out.Bytes()); err != nil {
				t.Fatalf("the configured plan wrote invalid WBXML: %v\nin % X\nout % X", err, in, out.Bytes())
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

// realPlan is a plan built from real rules: every package of the
// transforms at work.
func realPlan(tb testing.TB) *Plan {
	tb.Helper()
	lr, err := links.New(links.Config{HTTPScheme: "mibrowser", HTTPSScheme: "mibrowsers"})
	if err != nil {
		tb.Fatal(err)
	}
	master, err := attach.LoadOrCreateMaster(filepath.Join(tb.TempDir(), "k"))
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := classify.New(classify.Config{SubjectMarkers: []string{"[SECRET]"}, Headers: []string{"X-Classification"},
		Rules: []classify.Rule{{Tag: "[SECRET]", Others: classify.Block}}})
	if err != nil {
		tb.Fatal(err)
	}
	r := &Rules{Links: lr, Classifier: cl, Master: master, SMIMEPassThrough: true, Attachments: &attach.Policy{
		Managed: attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"exe"}, Action: attach.Block}, {Extensions: []string{"pdf"}, Action: attach.Encrypt}}}}}
	r.ShareMemory(nil)
	return r.Plan(Who{Managed: true, DeviceID: "D1", User: "u@example.com", UserAgent: "Outlook-iOS/2.0"})
}
