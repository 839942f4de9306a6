package mime

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"golang.org/x/text/encoding/unicode"
)

var corpus = []string{"newsletter.eml", "plain.eml", "nested.eml", "utf16.eml", "smime-signed.eml", "forwarded.eml", "malformed.eml"}

func TestPassThrough(t *testing.T) {
	noChange := Options{
		Text:       func(_ string, b []byte) ([]byte, int) { return b, 0 },
		Attachment: func(string, string) attach.Action { return attach.Allow },
		Classify:   func(string, textproto.MIMEHeader) (bool, []byte) { return false, nil },
	}
	for _, name := range corpus {
		in := mustRead(t, name)
		for _, tc := range []struct {
			name string
			o    Options
		}{{"zero", Options{}}, {"no change", noChange}, {"no change, transform smime", Options{Text: noChange.Text, TransformSMIME: true}}} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				out, rep := mustTransform(t, in, tc.o)
				if !bytes.Equal(out, in) {
					t.Fatalf("output differs from input (-want +got):\n%s", cmp.Diff(string(in), string(out)))
				}
				if rep.Changed || rep.LinksChanged != 0 {
					t.Fatalf("report %+v for an unchanged message", rep)
				}
			})
		}
	}
}

func TestTextPlain7bit(t *testing.T) {
	in := mustRead(t, "plain.eml")
	out, rep := mustTransform(t, in, Options{Text: upperHTTP})
	i := bytes.Index(in, []byte("\n\n")) + 2
	want := append(bytes.Clone(in[:i]), bytes.ReplaceAll(in[i:], []byte("http"), []byte("HTTP"))...)
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if rep.LinksChanged != 3 || !rep.Changed {
		t.Fatalf("report %+v, want 3 links", rep)
	}
}

// TestTextChanges checks each file part by part: text parts decode to the
// input's text with "http" upper-cased, every other part and every header
// is unchanged.
func TestTextChanges(t *testing.T) {
	tests := []struct {
		file  string
		links int
	}{
		{"newsletter.eml", 7},
		{"nested.eml", 2},
		{"forwarded.eml", 2},
		{"utf16.eml", 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := mustRead(t, tc.file)
			out, rep := mustTransform(t, in, Options{Text: upperHTTP})
			if rep.LinksChanged != tc.links {
				t.Errorf("LinksChanged %d, want %d", rep.LinksChanged, tc.links)
			}
			checkLines(t, out)
			a, b := leaves(t, in), leaves(t, out)
			if len(a) != len(b) {
				t.Fatalf("%d leaves, want %d", len(b), len(a))
			}
			for i := range a {
				want := a[i].body
				ct := a[i].header.Get("Content-Type")
				if isBodyText(a[i].header) {
					if strings.Contains(ct, "utf-16") {
						want = utf16Upper(t, want)
					} else {
						want = bytes.ReplaceAll(want, []byte("http"), []byte("HTTP"))
					}
				}
				if !bytes.Equal(b[i].body, want) {
					t.Errorf("leaf %d (%s):\n got %q\nwant %q", i, ct, b[i].body, want)
				}
				if diff := cmp.Diff(a[i].header, b[i].header); diff != "" {
					t.Errorf("leaf %d header (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func isBodyText(h textproto.MIMEHeader) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	return (ct == "" || strings.HasPrefix(ct, "text/plain") || strings.HasPrefix(ct, "text/html")) &&
		!strings.HasPrefix(strings.ToLower(h.Get("Content-Disposition")), "attachment")
}

func utf16Upper(t *testing.T, b []byte) []byte {
	t.Helper()
	e := unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	s, err := e.NewDecoder().Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.NewEncoder().Bytes(bytes.ReplaceAll(s, []byte("http"), []byte("HTTP")))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTextOnlyTextBytesChange checks at the byte level that a changed
// quoted-printable part is the only region that differs.
func TestTextOnlyTextBytesChange(t *testing.T) {
	in := mustRead(t, "newsletter.eml")
	out, _ := mustTransform(t, in, Options{Text: func(sub string, b []byte) ([]byte, int) {
		if sub != "html" {
			return b, 0
		}
		return upperHTTP(sub, b)
	}})
	start := bytes.Index(in, []byte("Content-Type: text/html"))
	endIn := bytes.LastIndex(in, []byte("\r\n--=_alt_9f8e7d6c5b4a--"))
	endOut := bytes.LastIndex(out, []byte("\r\n--=_alt_9f8e7d6c5b4a--"))
	if !bytes.Equal(in[:start], out[:start]) || !bytes.Equal(in[endIn:], out[endOut:]) {
		t.Fatal("bytes outside the html part changed")
	}
	if bytes.Contains(out[start:endOut], []byte("http")) || !bytes.Contains(out[start:endOut], []byte("HTTP://news.contoso.com")) {
		t.Fatalf("html part not rewritten:\n%s", out[start:endOut])
	}
}

func TestUnrepresentableSwitchesToUTF8(t *testing.T) {
	in := []byte("Subject: x\r\nContent-Type: text/plain; charset=iso-2022-jp; format=flowed\r\n\r\n" +
		"\x1b$B$3$s$K$A$O\x1b(B http://example.jp/\r\n")
	out, rep := mustTransform(t, in, Options{Text: func(_ string, b []byte) ([]byte, int) {
		if !bytes.Contains(b, []byte("こんにちは")) {
			t.Errorf("Text got %q, want UTF-8", b)
		}
		return bytes.ReplaceAll(b, []byte("http://"), []byte("https://café/")), 1
	}})
	if rep.LinksChanged != 1 {
		t.Fatalf("report %+v", rep)
	}
	want := "Subject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"=E3=81=93=E3=82=93=E3=81=AB=E3=81=A1=E3=81=AF https://caf=C3=A9/example.jp/\r\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// signedMail is a multipart/signed message around a text part with a
// link and an attachment named file (none when file is "").
func signedMail(subject, file string) string {
	att := ""
	if file != "" {
		att = "--in\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=" + file + "\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n"
	}
	return "From: bob@contoso.com\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=sig\r\n\r\n" +
		"--sig\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
		"--in\r\nContent-Type: text/plain\r\n\r\nApprove at http://payments.contoso.com/ok\r\n" +
		att + "--in--\r\n" +
		"\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n" +
		"Content-Disposition: attachment; filename=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIA=\r\n--sig--\r\n"
}

// noticeMail is what a replaced message becomes: its fields but the
// Content ones, and a text/plain body holding notice.
func noticeMail(subject, notice string) string {
	return "From: bob@contoso.com\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + notice + "\r\n"
}

// TestSMIMESigned: signed mail keeps its signature (links are not
// rewritten inside it, an allowed attachment passes byte for byte), but
// is not a way around the policy: a classified subject, or an attachment
// in the signed content that would be blocked or encrypted, replaces the
// whole message by the notice.
func TestSMIMESigned(t *testing.T) {
	k, _ := mustKeys(t)
	o := Options{
		Text:          upperHTTP,
		Attachment:    nestedPolicy,
		Encrypt:       func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, k) },
		BlockedNotice: "Removed by policy.",
		Classify: func(s string, _ textproto.MIMEHeader) (bool, []byte) {
			return strings.Contains(s, "[SECRET]"), []byte("Classified.")
		},
	}
	blockAll := o
	blockAll.Attachment = func(string, string) attach.Action { return attach.Block }
	tests := []struct {
		name string
		o    Options
		in   string
		want string // "" means the input, byte for byte
		rep  Report
	}{
		{"allowed attachment and link: untouched", o, signedMail("Approval", "notes.txt"), "", Report{SMIME: true}},
		// The signature part is no attachment: a policy that blocks
		// every attachment leaves signed mail without any alone.
		{"signature not an attachment", blockAll, signedMail("Approval", ""), "", Report{SMIME: true}},
		{"blocked attachment: notice", o, signedMail("Approval", "tool.exe"), noticeMail("Approval", "Removed by policy."),
			Report{AttachmentsBlocked: 1, Blocked: true, SMIMEBlocked: 1, Changed: true}},
		{"encrypted attachment: notice", o, signedMail("Approval", "r.pdf"), noticeMail("Approval", "Removed by policy."),
			Report{AttachmentsBlocked: 1, Blocked: true, SMIMEBlocked: 1, Changed: true}},
		{"classified subject: notice", o, signedMail("[SECRET] Approval", "notes.txt"), noticeMail("[SECRET] Approval", "Classified."),
			Report{Blocked: true, Changed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, rep := mustTransform(t, []byte(tc.in), tc.o)
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if diff := cmp.Diff(want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.rep, rep); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}

	// The corpus' signed mail carries an EXE: replaced; with
	// TransformSMIME it is transformed like any mail instead.
	in := mustRead(t, "smime-signed.eml")
	block := func(f, _ string) attach.Action {
		if strings.HasSuffix(f, ".exe") {
			return attach.Block
		}
		return attach.Allow
	}
	out, rep := mustTransform(t, in, Options{Text: upperHTTP, Attachment: block})
	if rep.SMIMEBlocked != 1 || !rep.Blocked || bytes.Contains(out, []byte("TVqQ")) {
		t.Fatalf("signed message with an EXE: report %+v", rep)
	}
	out, rep = mustTransform(t, in, Options{Text: upperHTTP, Attachment: block, TransformSMIME: true})
	if rep.SMIME || rep.AttachmentsBlocked != 1 || rep.LinksChanged != 1 || !bytes.Contains(out, []byte("HTTP://payments")) {
		t.Fatalf("TransformSMIME: report %+v", rep)
	}
	// A signed message forwarded inside another: the parts around it are
	// transformed, the signed entity replaced by a notice part.
	outer := "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee http://a\r\n--o\r\n" +
		signedMail("x", "tool.exe") + "\r\n--o--\r\n"
	out, rep = mustTransform(t, []byte(outer), Options{Text: upperHTTP, Attachment: block, BlockedNotice: "Removed."})
	wantOuter := "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee HTTP://a\r\n--o\r\n" +
		"From: bob@contoso.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n" +
		"Content-Disposition: inline\r\nX-Enforcer-Blocked: multipart/signed\r\n\r\nRemoved.\r\n--o--\r\n"
	if diff := cmp.Diff(wantOuter, string(out)); diff != "" || rep.SMIMEBlocked != 1 || rep.Blocked {
		t.Fatalf("nested signed, report %+v (-want +got):\n%s", rep, diff)
	}
	// Signed content too large to hold cannot be checked: replaced.
	_, rep = mustTransform(t, []byte(signedMail("x", "notes.txt")), Options{Attachment: block, MaxSignedBytes: 100})
	if rep.SMIMEBlocked != 1 {
		t.Fatalf("oversized signed content: report %+v", rep)
	}
}

// TestSMIMEEncrypted: encrypted S/MIME cannot be read; it gets Opaque (the
// unknown rule): passed untouched when that allows, else replaced.
func TestSMIMEEncrypted(t *testing.T) {
	in := "From: bob@contoso.com\r\nSubject: sealed\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n" +
		"Content-Disposition: attachment; filename=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIA=\r\n"
	out, rep := mustTransform(t, []byte(in), Options{Attachment: nestedPolicy, Opaque: attach.Allow})
	if string(out) != in || !rep.SMIME || rep.Changed {
		t.Errorf("unknown allowed: report %+v, output changed: %v", rep, string(out) != in)
	}
	for _, a := range []attach.Action{attach.Block, attach.Encrypt} {
		out, rep = mustTransform(t, []byte(in), Options{Attachment: nestedPolicy, Opaque: a, BlockedNotice: "Removed."})
		if diff := cmp.Diff(noticeMail("sealed", "Removed.")[len("From: bob@contoso.com\r\n"):], string(out)[len("From: bob@contoso.com\r\n"):]); diff != "" || rep.SMIMEBlocked != 1 || !rep.Blocked {
			t.Errorf("unknown %v: report %+v (-want +got):\n%s", a, rep, diff)
		}
	}
}

func nestedPolicy(f, ct string) attach.Action {
	p := attach.Policy{Managed: attach.RuleSet{Rules: []attach.Rule{
		{Extensions: []string{"exe"}, Action: attach.Block},
		{Extensions: []string{"pdf"}, Action: attach.Encrypt},
	}}}
	return p.Decide(true, f, ct)
}

func TestBlockAndEncrypt(t *testing.T) {
	in := mustRead(t, "nested.eml")
	k1, k2 := mustKeys(t)
	o := Options{
		Attachment:    nestedPolicy,
		Encrypt:       func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, k1) },
		BlockedNotice: "Removed by policy: ask IT.",
	}
	out, rep := mustTransform(t, in, o)
	if rep.AttachmentsBlocked != 1 || rep.AttachmentsEncrypted != 1 || !rep.Changed {
		t.Fatalf("report %+v", rep)
	}
	checkLines(t, out)
	a, b := leaves(t, in), leaves(t, out)
	if len(a) != len(b) {
		t.Fatalf("%d leaves, want %d", len(b), len(a))
	}
	for i := 0; i < 3; i++ { // text, html, inline image: untouched
		if !bytes.Equal(a[i].body, b[i].body) || cmp.Diff(a[i].header, b[i].header) != "" {
			t.Errorf("leaf %d changed", i)
		}
	}
	enc := b[3]
	if got := enc.header.Get("Content-Type"); got != "application/octet-stream; name=rapport-mai.pdf.enc" {
		t.Errorf("encrypted Content-Type %q", got)
	}
	if got := enc.header.Get("Content-Disposition"); got != "attachment; filename=rapport-mai.pdf.enc" {
		t.Errorf("encrypted Content-Disposition %q", got)
	}
	if enc.header.Get("X-Enforcer-Original-Type") != "application/pdf" || enc.header.Get("Content-Description") != "rapport-mai.pdf" {
		t.Errorf("encrypted header %v", enc.header)
	}
	if int64(len(enc.body)) != attach.EncryptedSize(3016) {
		t.Errorf("encrypted %d bytes, want %d", len(enc.body), attach.EncryptedSize(3016))
	}
	d, err := attach.NewDecrypter(bytes.NewReader(enc.body), k1)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, mustRead(t, "nested.pdf")) {
		t.Fatal("decrypted attachment differs from the original")
	}
	if d, err := attach.NewDecrypter(bytes.NewReader(enc.body), k2); err == nil {
		_, err = io.ReadAll(d)
		if !errors.Is(err, attach.ErrAuth) {
			t.Fatalf("other device's key: %v", err)
		}
	} else if !errors.Is(err, attach.ErrAuth) {
		t.Fatalf("other device's key: %v", err)
	}
	blocked := b[4]
	if string(blocked.body) != "Removed by policy: ask IT." || blocked.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		blocked.header.Get("X-Enforcer-Blocked") != "=?utf-8?q?setup-v=C3=A9rif.exe?=" {
		t.Errorf("blocked part: %v %q", blocked.header, blocked.body)
	}
	// Structure and epilogue survive.
	if !bytes.HasSuffix(out, []byte("--mixed-1--\r\n\r\nEpilogue text that readers ignore.\r\n")) {
		t.Error("epilogue lost")
	}
	// Without Encrypt, encryption fails closed.
	o.Encrypt = nil
	_, rep = mustTransform(t, in, o)
	if rep.AttachmentsBlocked != 2 || rep.AttachmentsEncrypted != 0 {
		t.Fatalf("no Encrypt: report %+v", rep)
	}
}

func TestEncryptEncodings(t *testing.T) {
	k, _ := mustKeys(t)
	plain := []byte("line one\r\nline = two\r\nthree")
	bodies := map[string]string{
		"base64":           "bGluZSBvbmUNCmxpbmUgPSB0d28NCnRocmVl",
		"quoted-printable": "line one\r\nline =3D two\r\nthree",
		"7bit":             "line one\r\nline = two\r\nthree",
	}
	for cte, body := range bodies {
		t.Run(cte, func(t *testing.T) {
			in := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/x-thing; name=a.bin\r\n" +
				"Content-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n--b--\r\n"
			out, _ := mustTransform(t, []byte(in), Options{
				Attachment: func(string, string) attach.Action { return attach.Encrypt },
				Encrypt:    func(w io.Writer) (io.WriteCloser, error) { return attach.NewEncrypter(w, k) },
			})
			l := leaves(t, out)
			d, err := attach.NewDecrypter(bytes.NewReader(l[0].body), k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("decrypted %q, %v; want %q", got, err, plain)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	in := mustRead(t, "newsletter.eml")
	var gotSubject string
	out, rep := mustTransform(t, in, Options{
		Text: upperHTTP,
		Classify: func(s string, h textproto.MIMEHeader) (bool, []byte) {
			gotSubject = s
			return h.Get("Message-Id") != "", []byte("Blocked: classified CONFIDENTIAL.\n")
		},
	})
	if gotSubject != "Contoso Weekly — Issue 42" {
		t.Errorf("subject %q", gotSubject)
	}
	if !rep.Blocked || !rep.Changed || rep.LinksChanged != 0 {
		t.Fatalf("report %+v", rep)
	}
	hdrEnd := bytes.Index(in, []byte("MIME-Version"))
	want := string(in[:hdrEnd]) + "MIME-Version: 1.0\r\n" +
		"List-Unsubscribe: <http://news.contoso.com/unsubscribe?u=jane%40contoso.com>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
		"Blocked: classified CONFIDENTIAL.\r\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestForwardedAttachment(t *testing.T) {
	in := mustRead(t, "forwarded.eml")
	out, rep := mustTransform(t, in, Options{Text: upperHTTP, Attachment: nestedPolicy})
	if rep.AttachmentsBlocked != 1 || rep.LinksChanged != 2 {
		t.Fatalf("report %+v", rep)
	}
	if !bytes.Contains(out, []byte("X-Enforcer-Blocked: install.exe\n")) || !bytes.Contains(out, []byte(`<a href=3D"HTTP://it.contoso.com/install">`)) {
		t.Fatalf("output:\n%s", out)
	}
	_, rep = mustTransform(t, in, Options{Attachment: func(f, _ string) attach.Action {
		if f == "installer.eml" {
			return attach.Block
		}
		return attach.Allow
	}})
	if rep.AttachmentsBlocked != 1 {
		t.Fatalf("eml blocked: report %+v", rep)
	}
}

func TestMalformed(t *testing.T) {
	in := mustRead(t, "malformed.eml")
	var texts []string
	out, rep := mustTransform(t, in, Options{
		Text: func(sub string, b []byte) ([]byte, int) {
			texts = append(texts, sub+":"+string(b))
			return upperHTTP(sub, b)
		},
		Attachment: nestedPolicy,
	})
	want := []string{"plain:Link http://example.net/a", `html:<a href="http://example.net/b">b</a>`}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("Text calls (-want +got):\n%s", diff)
	}
	if rep.AttachmentsBlocked != 1 || rep.LinksChanged != 2 {
		t.Errorf("report %+v", rep)
	}
	if !bytes.HasSuffix(out, []byte("\n--abc--\ntrailing\n")) || bytes.Contains(out, []byte("TVqQ")) {
		t.Errorf("output:\n%s", out)
	}
}

func TestOversizedTextPassesUnchanged(t *testing.T) {
	in := mustRead(t, "plain.eml")
	called := false
	out, rep := mustTransform(t, in, Options{MaxPartBytes: 64, Text: func(s string, b []byte) ([]byte, int) {
		called = true
		return upperHTTP(s, b)
	}})
	if called || !bytes.Equal(out, in) || rep.Oversized != 1 || rep.Changed {
		t.Fatalf("called %v, equal %v, report %+v", called, bytes.Equal(out, in), rep)
	}
}

func TestLimits(t *testing.T) {
	deep := ""
	for i := range 40 {
		deep += "Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\r\n\r\n--b" + strings.Repeat("x", i) + "\r\n"
	}
	_, err := Transform(io.Discard, strings.NewReader(deep), Options{})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("40 levels: err %v, want ErrLimit", err)
	}
	if _, err := Transform(io.Discard, strings.NewReader(deep), Options{MaxDepth: 64}); err != nil {
		t.Errorf("40 levels, MaxDepth 64: %v", err)
	}
	big := "Subject: " + strings.Repeat("a", 300<<10) + "\r\n\r\nbody"
	if _, err := Transform(io.Discard, strings.NewReader(big), Options{}); !errors.Is(err, ErrLimit) {
		t.Errorf("300 KiB header: err %v, want ErrLimit", err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	in := mustRead(t, "nested.eml")
	if _, err := Transform(&failWriter{n: 100}, bytes.NewReader(in), Options{}); err == nil || err.Error() != "disk full" {
		t.Fatalf("err %v", err)
	}
}

func TestLongLines(t *testing.T) {
	// A body line longer than the read buffer, and one without an ending.
	in := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n" + strings.Repeat("http ", 20000) + "\n--b\n\n" + strings.Repeat("y", 70000) + "\n--b--"
	out, _ := mustTransform(t, []byte(in), Options{})
	if string(out) != in {
		t.Fatal("long lines changed")
	}
	out, rep := mustTransform(t, []byte(in), Options{Text: upperHTTP})
	if rep.LinksChanged != 20000 || string(out) != strings.ReplaceAll(in, "http", "HTTP") {
		t.Fatalf("report %+v", rep)
	}
}

func TestTestdataIsCurrent(t *testing.T) {
	// The .pdf and .exe files are the attachments of nested.eml.
	for _, f := range []string{"nested.pdf", "nested.exe"} {
		if _, err := os.Stat(filepath.Join("testdata", f)); err != nil {
			t.Fatal(err)
		}
	}
}
