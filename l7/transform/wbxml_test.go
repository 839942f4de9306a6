package transform

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/wbxml"
)

var (
	E = wbxml.Elem
	T = wbxml.ElemText
)

// syncResponse is a Sync response with one Add holding the given item
// children.
func syncResponse(item ...*wbxml.Node) *wbxml.Node {
	return E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "7"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "1:1"), E("AirSync:ApplicationData", item...))))))
}

func htmlBody(data string) *wbxml.Node {
	return E("AirSyncBase:Body", T("AirSyncBase:Type", "2"), T("AirSyncBase:EstimatedDataSize", itoa(len(data))),
		T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", data))
}

func attachment(name, ref string, size int) *wbxml.Node {
	return E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", name), T("AirSyncBase:FileReference", ref),
		T("AirSyncBase:Method", "1"), T("AirSyncBase:EstimatedDataSize", itoa(size)))
}

func itoa(n int) string { return strconv.Itoa(n) }

func encode(tb testing.TB, n *wbxml.Node) []byte {
	tb.Helper()
	b, err := wbxml.Encode(n)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func run(tb testing.TB, p *Plan, in []byte) ([]byte, Report) {
	tb.Helper()
	var out bytes.Buffer
	rep, err := p.WBXML(&out, bytes.NewReader(in), Limits{})
	if err != nil {
		tb.Fatalf("WBXML: %v", err)
	}
	return out.Bytes(), rep
}

// schemeRewrite stands in for the link rewriter: https:// becomes
// mibrowsers://.
func schemeRewrite(b []byte) ([]byte, int) {
	n := bytes.Count(b, []byte("https://"))
	if n == 0 {
		return b, 0
	}
	return bytes.ReplaceAll(b, []byte("https://"), []byte("mibrowsers://")), n
}

// fakeEncrypt prefixes "ENC:" (the real format is package attach's).
func fakeEncrypt(w io.Writer) (io.WriteCloser, error) {
	if _, err := io.WriteString(w, "ENC:"); err != nil {
		return nil, err
	}
	return nopCloser{w}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func byExtension(name, _ string) attach.Action {
	switch {
	case strings.HasSuffix(name, ".exe"):
		return attach.Block
	case strings.HasSuffix(name, ".pdf"):
		return attach.Encrypt
	}
	return attach.Allow
}

func decode(tb testing.TB, b []byte) *wbxml.Node {
	tb.Helper()
	n, err := wbxml.Decode(b)
	if err != nil {
		tb.Fatalf("output is not WBXML: %v", err)
	}
	return n
}

func TestPassThroughExact(t *testing.T) {
	in := encode(t, syncResponse(T("Email:Subject", "hi"), htmlBody(`<a href="https://x.test/">x</a>`),
		E("AirSyncBase:Attachments", attachment("a.exe", "r1", 10))))
	for name, p := range map[string]*Plan{
		"zero plan":       {},
		"nothing matches": {HTML: func(b []byte) ([]byte, int) { return b, 0 }, Attachment: func(string, string) attach.Action { return attach.Allow }},
	} {
		t.Run(name, func(t *testing.T) {
			out, rep := run(t, p, in)
			if !bytes.Equal(out, in) {
				t.Errorf("changed:\n in % X\nout % X", in, out)
			}
			if rep.Changed() || rep.Items != 1 {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// TestPassThroughProperty: random EAS-shaped documents, with an explicit
// SWITCH_PAGE here and there, opaque and string data, come out byte for
// byte under a plan whose rules match nothing.
func TestPassThroughProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &Plan{HTML: func(b []byte) ([]byte, int) { return b, 0 }, Text: func(b []byte) ([]byte, int) { return b, 0 },
		Attachment: func(string, string) attach.Action { return attach.Allow }, Classify: func(string) (bool, []byte) { return false, nil }}
	leaves := []string{"Email:Subject", "Email:From", "AirSyncBase:Type", "AirSyncBase:Data", "AirSync:ServerId", "Email:MessageClass"}
	for i := range 300 {
		var item []*wbxml.Node
		for range rng.IntN(6) {
			var v *wbxml.Node
			if rng.IntN(3) == 0 {
				v = wbxml.NewOpaque([]byte{byte(rng.IntN(256)), 0, byte(rng.IntN(256))})
			} else {
				v = wbxml.NewText(strings.Repeat("x", rng.IntN(40)) + "https://a.test/")
			}
			n := E(leaves[rng.IntN(len(leaves))], v)
			n.Switch = rng.IntN(4) == 0
			item = append(item, n)
		}
		if rng.IntN(2) == 0 {
			item = append(item, htmlBody(strings.Repeat("<p>", rng.IntN(5))))
		}
		in := encode(t, syncResponse(item...))
		out, _ := run(t, p, in)
		if !bytes.Equal(out, in) {
			t.Fatalf("document %d changed:\n in % X\nout % X", i, in, out)
		}
	}
}

func TestLinksInHTMLAndText(t *testing.T) {
	html := `<a href="https://x.test/a">x</a> <img src="https://img.test/i.png">`
	in := encode(t, syncResponse(T("Email:Subject", "news"), htmlBody(html)))
	p := &Plan{HTML: schemeRewrite, Text: schemeRewrite}
	out, rep := run(t, p, in)
	want := strings.ReplaceAll(html, "https://", "mibrowsers://")
	wantDoc := syncResponse(T("Email:Subject", "news"), htmlBody(want))
	if diff := cmp.Diff(wbxml.Format(wantDoc, wbxml.FormatOptions{}), wbxml.Format(decode(t, out), wbxml.FormatOptions{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep.LinksChanged != 2 {
		t.Errorf("links changed %d, want 2", rep.LinksChanged)
	}

	legacy := encode(t, syncResponse(T("Email:Body", "see https://x.test/"), T("Email:BodyTruncated", "0")))
	out, rep = run(t, p, legacy)
	if got := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData", "Email:Body").Value(); got != "see mibrowsers://x.test/" || rep.LinksChanged != 1 {
		t.Errorf("legacy body %q, %+v", got, rep)
	}
}

func TestTruncatedSizeFollowsData(t *testing.T) {
	body := E("AirSyncBase:Body", T("AirSyncBase:Type", "1"), T("AirSyncBase:EstimatedDataSize", "5000"),
		T("AirSyncBase:Truncated", "1"), T("AirSyncBase:Data", "go to https://a.test/ and https://b.test/"))
	out, _ := run(t, &Plan{Text: schemeRewrite}, encode(t, syncResponse(body)))
	b := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData", "AirSyncBase:Body")
	// Two links each grew by len("mibrowsers")-len("https") = 5.
	if got := b.Child("AirSyncBase:EstimatedDataSize").Value(); got != "5010" {
		t.Errorf("EstimatedDataSize %s, want 5010", got)
	}
	if got := b.Child("AirSyncBase:Truncated").Value(); got != "1" {
		t.Errorf("Truncated %s", got)
	}
}

func TestAttachments(t *testing.T) {
	in := encode(t, syncResponse(T("Email:Subject", "files"), htmlBody("<p>see attached</p>"),
		E("AirSyncBase:Attachments", attachment("tool.exe", "ref-exe", 100), attachment("report.pdf", "ref-pdf", 2000), attachment("a.txt", "ref-txt", 3))))
	remembered := map[string]Listing{}
	p := &Plan{Attachment: byExtension, EncryptedSize: func(n int64) int64 { return n + 40 },
		BlockedNotice: "An attachment was removed by policy.",
		Remember:      func(ref string, l Listing) { remembered[ref] = l }}
	out, rep := run(t, p, in)
	item := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData")
	atts := item.Child("AirSyncBase:Attachments").ChildrenNamed("AirSyncBase:Attachment")
	if len(atts) != 2 {
		t.Fatalf("%d attachments left, want 2 (the .exe removed)", len(atts))
	}
	if n, s := atts[0].Child("AirSyncBase:DisplayName").Value(), atts[0].Child("AirSyncBase:EstimatedDataSize").Value(); n != "report.pdf.enc" || s != "2040" {
		t.Errorf("encrypted attachment listed as %q, %s bytes", n, s)
	}
	if n := atts[1].Child("AirSyncBase:DisplayName").Value(); n != "a.txt" {
		t.Errorf("allowed attachment %q", n)
	}
	if got := item.Find("AirSyncBase:Body", "AirSyncBase:Data").Value(); got != "<p>see attached</p><p>An attachment was removed by policy.</p>" {
		t.Errorf("body %q", got)
	}
	if rep.AttachmentsBlocked != 1 || rep.AttachmentsEncrypted != 1 {
		t.Errorf("report %+v", rep)
	}
	if diff := cmp.Diff(map[string]Listing{"ref-exe": {Name: "tool.exe"}, "ref-pdf": {Name: "report.pdf"}, "ref-txt": {Name: "a.txt"}}, remembered); diff != "" {
		t.Errorf("remembered (-want +got):\n%s", diff)
	}
}

// TestSMIMERenderedBody: the type 2 body and the attachment list of
// signed mail are the server's rendering, which no signature covers: links
// are rewritten and attachments decided as in any mail, and the S/MIME
// container (smime.p7m), whose content the gateway does not read, gets the
// unknown rule.
func TestSMIMERenderedBody(t *testing.T) {
	in := encode(t, syncResponse(T("Email:MessageClass", "IPM.Note.SMIME.MultipartSigned"), htmlBody(`<a href="https://x.test/">x</a>`),
		E("AirSyncBase:Attachments", attachment("smime.p7m", "r", 10), attachment("a.txt", "t", 3))))
	p := &Plan{HTML: schemeRewrite, Attachment: byExtension, Unknown: attach.Block}
	out, rep := run(t, p, in)
	item := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData")
	if got := item.Find("AirSyncBase:Body", "AirSyncBase:Data").Value(); got != `<a href="mibrowsers://x.test/">x</a>` {
		t.Errorf("body %q", got)
	}
	atts := item.Child("AirSyncBase:Attachments").ChildrenNamed("AirSyncBase:Attachment")
	if len(atts) != 1 || atts[0].Child("AirSyncBase:DisplayName").Value() != "a.txt" || rep.AttachmentsBlocked != 1 {
		t.Errorf("%d attachments left, report %+v; want a.txt only", len(atts), rep)
	}
}

func TestClassificationReplacesBody(t *testing.T) {
	in := encode(t, syncResponse(T("Email:Subject", "[SECRET] plans"), htmlBody("<p>the plans</p>"),
		E("AirSyncBase:Attachments", attachment("plans.docx", "r", 10))))
	p := &Plan{Classify: func(s string) (bool, []byte) { return strings.Contains(s, "[SECRET]"), []byte("blocked: <classified>") }}
	out, rep := run(t, p, in)
	item := decode(t, out).Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData")
	if item.Child("AirSyncBase:Attachments") != nil {
		t.Error("attachments of a blocked message kept")
	}
	if got := item.Find("AirSyncBase:Body", "AirSyncBase:Data").Value(); got != "<html><body><pre>blocked: &lt;classified&gt;</pre></body></html>" {
		t.Errorf("body %q", got)
	}
	if got := item.Find("AirSyncBase:Body", "AirSyncBase:EstimatedDataSize").Value(); got != itoa(len("<html><body><pre>blocked: &lt;classified&gt;</pre></body></html>")) {
		t.Errorf("size %s", got)
	}
	if rep.MessagesBlocked != 1 {
		t.Errorf("report %+v", rep)
	}
}

// TestClassificationFindPreview: a Find result (protocol 16.1) carries the
// first characters of the body as Find:Preview; a blocked message's
// preview is the notice, and an allowed one's is left alone.
func TestClassificationFindPreview(t *testing.T) {
	result := func(subject, preview string) *wbxml.Node {
		return E("Find:Result", T("AirSync:Class", "Email"), T("AirSync:ServerId", "1:1"),
			E("Find:Properties", T("Email:Subject", subject), T("Find:Preview", preview), T("Find:HasAttachments", "1")))
	}
	doc := E("Find:Find", T("Find:Status", "1"), E("Find:Response", T("ItemOperations:Store", "Mailbox"), T("Find:Status", "1"),
		result("[SECRET] plans", "the plans are: take the hill"), result("Lunch", "at noon"), T("Find:Total", "2")))
	long := strings.Repeat("é", 300)
	p := &Plan{Classify: func(s string) (bool, []byte) { return strings.Contains(s, "[SECRET]"), []byte(long) }}
	out, rep := run(t, p, encode(t, doc))
	results := decode(t, out).Find("Find:Response").ChildrenNamed("Find:Result")
	if got := results[0].Find("Find:Properties", "Find:Preview").Value(); got != strings.Repeat("é", 255) {
		t.Errorf("blocked preview %q (%d characters), want the notice cut to 255", got, utf8.RuneCountInString(got))
	}
	if got := results[1].Find("Find:Properties", "Find:Preview").Value(); got != "at noon" {
		t.Errorf("allowed preview %q", got)
	}
	if rep.MessagesBlocked != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestFetchAttachment(t *testing.T) {
	fetch := func(ref, data string) *wbxml.Node {
		return E("ItemOperations:Fetch", T("ItemOperations:Status", "1"), T("AirSyncBase:FileReference", ref),
			E("ItemOperations:Properties", T("AirSyncBase:ContentType", "application/octet-stream"), T("ItemOperations:Data", data)))
	}
	content := base64.StdEncoding.EncodeToString([]byte("%PDF-1.7 hello"))
	doc := E("ItemOperations:ItemOperations", T("ItemOperations:Status", "1"), E("ItemOperations:Response",
		fetch("ref-exe", base64.StdEncoding.EncodeToString([]byte("MZ"))), fetch("ref-pdf", content), fetch("ref-txt", content)))
	listed := map[string]Listing{"ref-exe": {Name: "x.exe"}, "ref-pdf": {Name: "r.pdf"}, "ref-txt": {Name: "a.txt"}}
	p := &Plan{Attachment: byExtension, Encrypt: fakeEncrypt,
		Listed: func(ref string) ([]Listing, bool) { l, ok := listed[ref]; return []Listing{l}, ok }}
	out, rep := run(t, p, encode(t, doc))
	fetches := decode(t, out).Find("ItemOperations:Response").ChildrenNamed("ItemOperations:Fetch")
	if st := fetches[0].Child("ItemOperations:Status").Value(); st != "6" || fetches[0].Child("ItemOperations:Properties") != nil {
		t.Errorf("blocked fetch: status %s, properties kept: %v", st, fetches[0].Child("ItemOperations:Properties") != nil)
	}
	enc, _ := base64.StdEncoding.DecodeString(fetches[1].Find("ItemOperations:Properties", "ItemOperations:Data").Value())
	if string(enc) != "ENC:%PDF-1.7 hello" {
		t.Errorf("encrypted fetch carries %q", enc)
	}
	if got := fetches[2].Find("ItemOperations:Properties", "ItemOperations:Data").Value(); got != content {
		t.Errorf("allowed fetch changed: %q", got)
	}
	if rep.AttachmentsBlocked != 1 || rep.AttachmentsEncrypted != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestItemTooLarge(t *testing.T) {
	in := encode(t, syncResponse(htmlBody(strings.Repeat("x", 5000))))
	_, err := (&Plan{}).WBXML(io.Discard, bytes.NewReader(in), Limits{MaxItemBytes: 1000})
	if !errors.Is(err, ErrItemTooLarge) {
		t.Errorf("err %v, want ErrItemTooLarge", err)
	}
}

func TestDownloadAction(t *testing.T) {
	byType := func(name, ct string) attach.Action {
		if ct == "application/x-msdownload" {
			return attach.Block
		}
		return byExtension(name, ct)
	}
	p := &Plan{Attachment: byType, Unknown: attach.Block, Listed: func(ref string) ([]Listing, bool) {
		switch ref {
		case "listed":
			return []Listing{{Name: "notes.txt"}}, true
		case "twice":
			return []Listing{{Name: "notes.txt"}, {Name: "r.pdf"}}, true
		case "container":
			return []Listing{{Name: "smime.p7m"}}, true
		}
		return nil, false
	}}
	for _, tc := range []struct {
		ref, ct string
		want    attach.Action
	}{
		{"listed", "", attach.Allow},
		// The type the download comes with can only make it stricter.
		{"listed", "application/x-msdownload", attach.Block},
		// A key shared by two listings gets the stricter.
		{"twice", "", attach.Encrypt},
		{"container", "", attach.Block},
		// Never listed: the unknown rule, whatever the reference says.
		{"5%3a7%3a0/report.pdf", "", attach.Block},
		{"x/notes.txt", "text/plain", attach.Block},
	} {
		if got := p.DownloadAction(tc.ref, tc.ct); got != tc.want {
			t.Errorf("DownloadAction(%q, %q) = %v, want %v", tc.ref, tc.ct, got, tc.want)
		}
	}
	var nilPlan *Plan
	if nilPlan.DownloadAction("x.exe", "") != attach.Allow {
		t.Error("nil plan")
	}
	p.Encrypt = fakeEncrypt
	r := p.EncryptStream(strings.NewReader("data"))
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "ENC:data" {
		t.Errorf("EncryptStream: %q, %v", b, err)
	}
}
