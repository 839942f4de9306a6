package proxy

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/links"
	"github.com/mailgate/enforcer/l7/wbxml"
)

const mailBody = `<p>see <a href="https://intranet.test/x">x</a></p>`

var mailPDF = []byte("%PDF-1.7 test\n")

func mailboxSync(tb testing.TB) []byte {
	E, T := wbxml.Elem, wbxml.ElemText
	b, err := wbxml.Encode(E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "1"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "1:1"), E("AirSync:ApplicationData",
			E("AirSyncBase:Body", T("AirSyncBase:Type", "2"), T("AirSyncBase:EstimatedDataSize", "48"), T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mailBody)),
			E("AirSyncBase:Attachments",
				E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", "r.pdf"), T("AirSyncBase:FileReference", "1:r.pdf"), T("AirSyncBase:EstimatedDataSize", "14")),
				E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", "x.exe"), T("AirSyncBase:FileReference", "1:x.exe"), T("AirSyncBase:EstimatedDataSize", "2"))))))))))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestTransforms: the proxy applies the device's transforms to what the
// mail server answers, per device kind, and passes everything byte for
// byte when no transforms are configured.
func TestTransforms(t *testing.T) {
	lr, err := links.New(links.Config{HTTPScheme: "mibrowser", HTTPSScheme: "mibrowsers"})
	if err != nil {
		t.Fatal(err)
	}
	master, err := attach.LoadOrCreateMaster(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	rules := &transform.Rules{Links: lr, Master: master, SMIMEPassThrough: true, Attachments: &attach.Policy{
		Managed:   attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"pdf"}, Action: attach.Encrypt}, {Extensions: []string{"exe"}, Action: attach.Block}}},
		Unmanaged: attach.RuleSet{Default: attach.Block}}}
	rules.ShareMemory(nil)
	var active *transform.Rules
	e := newEnvDeps(t, mustPolicy(t, device.Config{}), func(d *Deps) { d.Transforms = func() *transform.Rules { return active } })
	box := mailboxSync(t)
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if r.URL.Query().Get("Cmd") == "GetAttachment" {
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(mailPDF)
			return true
		}
		w.Header().Set("Content-Type", WBXMLContentType)
		w.Write(box)
		return true
	})
	mustUpsert(t, e.store, device.Record{DeviceID: "MANAGED", Managed: true})
	item := func(t *testing.T, b []byte) *wbxml.Node {
		t.Helper()
		doc, err := wbxml.Decode(b)
		if err != nil {
			t.Fatalf("not WBXML: %v", err)
		}
		return doc.Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData")
	}

	t.Run("off: byte for byte", func(t *testing.T) {
		active = nil
		res := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "MANAGED", devType: "iPhone"})
		if res.Status != http.StatusOK || !bytes.Equal(res.Body, box) {
			t.Fatalf("status %d, body changed: %v", res.Status, !bytes.Equal(res.Body, box))
		}
	})
	active = rules
	t.Run("managed", func(t *testing.T) {
		res := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "MANAGED", devType: "iPhone"})
		it := item(t, res.Body)
		if got := it.Find("AirSyncBase:Body", "AirSyncBase:Data").Value(); !strings.Contains(got, `href="mibrowsers://intranet.test/x"`) {
			t.Errorf("body %q", got)
		}
		atts := it.Child("AirSyncBase:Attachments").ChildrenNamed("AirSyncBase:Attachment")
		if len(atts) != 1 || atts[0].Child("AirSyncBase:DisplayName").Value() != "r.pdf.enc" {
			t.Errorf("attachments: %d", len(atts))
		}
		// The upstream saw the client's request as sent (no
		// multipart preference was there to drop).
		got := e.mail.requests()
		if last := got[len(got)-1]; !strings.Contains(last.RawQuery, "Cmd=Sync") {
			t.Errorf("upstream saw %q", last.RawQuery)
		}
		dl := e.eas(t, easReq{cmd: "GetAttachment", user: "jane", deviceID: "MANAGED", devType: "iPhone",
			query: "Cmd=GetAttachment&User=jane&DeviceId=MANAGED&DeviceType=iPhone&AttachmentName=1%3Ar.pdf"})
		if dl.Status != http.StatusOK || dl.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("GetAttachment: %d %q", dl.Status, dl.Header.Get("Content-Type"))
		}
		r, err := attach.NewDecrypter(bytes.NewReader(dl.Body), master.Key("MANAGED", "jane"))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := io.ReadAll(r); err != nil || !bytes.Equal(plain, mailPDF) {
			t.Errorf("decrypted %q, %v", plain, err)
		}
		rec := e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["cmd"] == "GetAttachment" })
		if rec.Attrs["attachments_encrypted"] == nil {
			t.Errorf("transaction log lacks the transform: %v", rec.Attrs)
		}
	})
	t.Run("unmanaged", func(t *testing.T) {
		res := e.eas(t, easReq{cmd: "Sync", user: "ann", deviceID: "BYOD", devType: "iPhone"})
		it := item(t, res.Body)
		if it.Child("AirSyncBase:Attachments") != nil {
			t.Error("attachments kept for an unmanaged device")
		}
		if got := it.Find("AirSyncBase:Body", "AirSyncBase:Data").Value(); !strings.Contains(got, `href="https://intranet.test/x"`) {
			t.Errorf("links rewritten for an unmanaged device: %q", got)
		}
		before := len(e.mail.requests())
		dl := e.eas(t, easReq{query: "Cmd=GetAttachment&User=ann&DeviceId=BYOD&DeviceType=iPhone&AttachmentName=1%3Ar.pdf", user: "ann"})
		if dl.Status != http.StatusForbidden {
			t.Errorf("blocked download: %d", dl.Status)
		}
		if len(e.mail.requests()) != before {
			t.Error("a download known to be blocked was fetched from the mail server")
		}
	})
	t.Run("multipart preference dropped, multipart answer refused", func(t *testing.T) {
		// The base64 query of a Sync from BYOD with Options bit 0x02
		// (AcceptMultiPart), and the header form of the same wish.
		q := eas.Query{Form: eas.FormBase64, Command: eas.Sync, Version: eas.V141, Locale: 0x0409,
			DeviceID: "BYOD", DeviceType: "iPhone", User: "ann", AcceptMultiPart: true}
		enc, err := q.EncodeBase64()
		if err != nil {
			t.Fatal(err)
		}
		upstreamQuery := func(t *testing.T) (seen, *eas.Query) {
			t.Helper()
			got := e.mail.requests()
			last := got[len(got)-1]
			uq, err := eas.DecodeBase64Query(last.RawQuery)
			if err != nil {
				t.Fatalf("upstream query %q: %v", last.RawQuery, err)
			}
			return last, uq
		}
		for _, on := range []bool{false, true} {
			if on {
				active = rules
			} else {
				active = nil
			}
			req := e.easRequest(t, easReq{query: enc, user: "ann"})
			req.Header.Set("MS-ASAcceptMultiPart", "T")
			if res := do(t, req); res.Status != http.StatusOK {
				t.Fatalf("transforms %v: status %d", on, res.Status)
			}
			last, uq := upstreamQuery(t)
			want := q
			want.AcceptMultiPart = !on // kept as sent when no plan applies
			if diff := cmp.Diff(&want, uq); diff != "" {
				t.Errorf("transforms %v: upstream query (-want +got):\n%s", on, diff)
			}
			if got := last.Header.Get("MS-ASAcceptMultiPart") == "T"; got != !on {
				t.Errorf("transforms %v: upstream saw MS-ASAcceptMultiPart %v", on, got)
			}
		}
		// Compression: the walk needs the body plain.
		for _, on := range []bool{false, true} {
			if on {
				active = rules
			} else {
				active = nil
			}
			req := e.easRequest(t, easReq{cmd: "Sync", user: "ann", deviceID: "BYOD", devType: "iPhone"})
			req.Header.Set("Accept-Encoding", "gzip")
			do(t, req)
			got := e.mail.requests()
			if ae := got[len(got)-1].Header.Get("Accept-Encoding"); (ae == "gzip") != !on {
				t.Errorf("transforms %v: upstream saw Accept-Encoding %q", on, ae)
			}
		}
		e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set("Content-Type", WBXMLContentType)
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(box)
			return true
		})
		active = rules
		if res := e.eas(t, easReq{cmd: "Sync", user: "ann", deviceID: "BYOD", devType: "iPhone"}); res.Status != http.StatusBadGateway {
			t.Errorf("compressed answer under a plan: status %d, want 502", res.Status)
		}
		// A server that answers with parts anyway is refused, not passed.
		active = rules
		e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set("Content-Type", MultipartContentType)
			w.Write(mailPDF)
			return true
		})
		res := e.eas(t, easReq{cmd: "ItemOperations", user: "ann", deviceID: "BYOD", devType: "iPhone"})
		if res.Status != http.StatusBadGateway || bytes.Contains(res.Body, mailPDF) {
			t.Errorf("multipart answer under a plan: status %d, %d bytes; want 502 and none of the parts", res.Status, len(res.Body))
		}
		// The content type is compared as a media type: parameters or
		// case do not let a WBXML body skip the walk.
		e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set("Content-Type", "Application/Vnd.MS-Sync.WBXML; charset=utf-8")
			w.Write(box)
			return true
		})
		res = e.eas(t, easReq{cmd: "Sync", user: "ann", deviceID: "BYOD", devType: "iPhone"})
		if it := item(t, res.Body); it.Child("AirSyncBase:Attachments") != nil {
			t.Error("a WBXML body with a content type parameter skipped the transforms")
		}
	})
}
