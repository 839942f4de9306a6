package transform

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
	"github.com/mailgate/enforcer/l7/transform/mime"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// smimePlan is the plan of a managed device under real rules with
// S/MIME pass-through: links rewritten, .exe blocked, .pdf encrypted,
// [SECRET] mail blocked.
func smimePlan(tb testing.TB) *Plan {
	tb.Helper()
	lr, err := links.New(links.Config{HTTPScheme: "mibrowser", HTTPSScheme: "mibrowsers"})
	if err != nil {
		tb.Fatal(err)
	}
	master, err := attach.LoadOrCreateMaster(filepath.Join(tb.TempDir(), "k"))
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := classify.New(classify.Config{SubjectMarkers: []string{"[SECRET]"}, Template: "Classified: {{.Subject}}",
		Rules: []classify.Rule{{Tag: "[SECRET]", Others: classify.Block}}})
	if err != nil {
		tb.Fatal(err)
	}
	r := &Rules{Links: lr, Classifier: cl, Master: master, SMIMEPassThrough: true, Attachments: &attach.Policy{
		BlockedNotice: "Removed by policy.",
		Managed:       attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"exe"}, Action: attach.Block}, {Extensions: []string{"pdf"}, Action: attach.Encrypt}}}}}
	r.ShareMemory(nil)
	return r.Plan(Who{Managed: true, DeviceID: "D1", User: "u@example.com", UserAgent: "Outlook-iOS/2.0"})
}

// signedMIME is a clear-signed message around a text part with a link and
// an attachment named file.
func signedMIME(subject, file string) string {
	return "From: bob@contoso.com\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=sig\r\n\r\n" +
		"--sig\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
		"--in\r\nContent-Type: text/html\r\n\r\n<a href=\"https://payments.contoso.com/ok\">approve</a>\r\n" +
		"--in\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=" + file + "\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n--in--\r\n" +
		"\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n" +
		"Content-Disposition: attachment; filename=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIA=\r\n--sig--\r\n"
}

func signedItem(subject, file string) *wbxml.Node {
	mime := signedMIME(subject, file)
	return syncResponse(T("Email:Subject", subject), T("Email:MessageClass", "IPM.Note.SMIME.MultipartSigned"),
		E("AirSyncBase:Body", T("AirSyncBase:Type", "4"), T("AirSyncBase:EstimatedDataSize", itoa(len(mime))),
			T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mime)))
}

// TestSMIMESignedItem: a signed message (IPM.Note.SMIME.MultipartSigned,
// MIME body) keeps its signature when nothing in it is against the
// policy, and is replaced by the notice when its subject is classified or
// an attachment inside it would be blocked or encrypted. Before, S/MIME
// message classes passed whole, classification and attachments unchecked.
func TestSMIMESignedItem(t *testing.T) {
	p := smimePlan(t)
	data := func(t *testing.T, out []byte) string {
		t.Helper()
		return decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add",
			"AirSync:ApplicationData", "AirSyncBase:Body", "AirSyncBase:Data").Value()
	}
	notice := func(subject, text string) string {
		return "From: bob@contoso.com\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + text + "\r\n"
	}

	t.Run("allowed attachment and link: byte for byte", func(t *testing.T) {
		in := encode(t, signedItem("Approval", "notes.txt"))
		out, rep := run(t, p, in)
		if !bytes.Equal(out, in) || rep.Changed() || rep.SMIMEPassed != 1 {
			t.Errorf("changed (report %+v):\n%s", rep, data(t, out))
		}
	})
	for _, file := range []string{"tool.exe", "report.pdf"} {
		t.Run(file+": notice", func(t *testing.T) {
			out, rep := run(t, p, encode(t, signedItem("Approval", file)))
			if diff := cmp.Diff(notice("Approval", "Removed by policy."), data(t, out)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if rep.MessagesBlocked != 1 || rep.SMIMEBlocked != 1 || rep.AttachmentsBlocked != 1 {
				t.Errorf("report %+v", rep)
			}
		})
	}
	t.Run("classified subject: notice", func(t *testing.T) {
		out, rep := run(t, p, encode(t, signedItem("[SECRET] Approval", "notes.txt")))
		want := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nClassified: [SECRET] Approval"
		if diff := cmp.Diff(want, data(t, out)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		if rep.MessagesBlocked != 1 {
			t.Errorf("report %+v", rep)
		}
	})
}

// TestSMIMEEncryptedItem: encrypted S/MIME (IPM.Note.SMIME) cannot be
// read; its content gets the unknown rule, the strictest of the device's
// rule set (block here), and its subject is still classified.
func TestSMIMEEncryptedItem(t *testing.T) {
	p := smimePlan(t)
	mime := "From: bob@contoso.com\r\nSubject: sealed\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIA=\r\n"
	in := encode(t, syncResponse(T("Email:Subject", "sealed"), T("Email:MessageClass", "IPM.Note.SMIME"),
		E("AirSyncBase:Body", T("AirSyncBase:Type", "4"), T("AirSyncBase:EstimatedDataSize", itoa(len(mime))),
			T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mime))))
	out, rep := run(t, p, in)
	got := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add",
		"AirSync:ApplicationData", "AirSyncBase:Body", "AirSyncBase:Data").Value()
	if strings.Contains(got, "MIAGCSqGSIb3DQEHA6CAMIA=") || !strings.Contains(got, "Removed by policy.") || rep.SMIMEBlocked != 1 {
		t.Errorf("encrypted S/MIME under a blocking unknown rule: report %+v, body:\n%s", rep, got)
	}
}

// TestMIMEBeyondLimits: a MIME body the walk cannot finish (nested deeper
// than its limit) would carry its attachments unchecked: the message
// becomes the notice. Before, it passed as it came.
func TestMIMEBeyondLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: deep\r\nMIME-Version: 1.0\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=tool.exe\r\n\r\nMZ\r\n")
	in := encode(t, syncResponse(T("Email:Subject", "deep"), E("AirSyncBase:Body", T("AirSyncBase:Type", "4"),
		T("AirSyncBase:EstimatedDataSize", itoa(b.Len())), T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", b.String()))))
	out, rep := run(t, smimePlan(t), in)
	got := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add",
		"AirSync:ApplicationData", "AirSyncBase:Body", "AirSyncBase:Data").Value()
	if strings.Contains(got, "tool.exe") || !strings.Contains(got, mime.DefaultBlockedMessage) || rep.MessagesBlocked != 1 {
		t.Errorf("report %+v, body:\n%.300s", rep, got)
	}
}
