package proxy

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// Exchange lists file references percent-encoded and reads them back
// decoded any number of times; the fake server does the same.
var refContent = map[string][]byte{
	"1:11:1": []byte("MZ setup.exe"),
	"1:11:2": []byte("%PDF-1.7 report"),
	"1:11:3": []byte("notes"),
	"1:11:9": []byte("MZ never listed"),
}

func serverRef(ref string) []byte {
	for {
		d, err := url.PathUnescape(ref)
		if err != nil || d == ref {
			return refContent[ref]
		}
		ref = d
	}
}

// TestAttachmentDownloadForms: an attachment gets the verdict its listing
// got whatever form the download asks for it in (plain query, percent
// encoded, double encoded, base64 query, ItemOperations Fetch), and a
// reference the gateway never listed to this user and device, or listed
// before it restarted, gets the unknown rule instead of being allowed.
// Before, the plain query's AttachmentName (decoded once by the proxy)
// missed the decision remembered under the listed reference, and the
// fallback found no extension in "1:11:1" and allowed setup.exe.
func TestAttachmentDownloadForms(t *testing.T) {
	master, err := attach.LoadOrCreateMaster(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	newRules := func() *transform.Rules {
		r := &transform.Rules{Master: master, SMIMEPassThrough: true, Attachments: &attach.Policy{
			Managed:   attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"pdf"}, Action: attach.Encrypt}, {Extensions: []string{"exe"}, Action: attach.Block}}},
			Unmanaged: attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"txt"}, Action: attach.Allow}}, Default: attach.Block}}}
		r.ShareMemory(nil)
		return r
	}
	active := newRules()
	e := newEnvDeps(t, mustPolicy(t, device.Config{}), func(d *Deps) { d.Transforms = func() *transform.Rules { return active } })
	E, T := wbxml.Elem, wbxml.ElemText
	att := func(name, ref string) *wbxml.Node {
		return E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", name), T("AirSyncBase:FileReference", ref), T("AirSyncBase:EstimatedDataSize", "10"))
	}
	box, err := wbxml.Encode(E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "1"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "1:11"), E("AirSync:ApplicationData",
			T("Email:Subject", "files"),
			E("AirSyncBase:Attachments", att("setup.exe", "1%3a11%3a1"), att("report.pdf", "1%3a11%3a2"), att("notes.txt", "1%3a11%3a3")))))))))
	if err != nil {
		t.Fatal(err)
	}
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		q, err := eas.ParseQuery(r.URL.RawQuery)
		if err != nil {
			http.Error(w, "bad query", http.StatusBadRequest)
			return true
		}
		switch q.Command {
		case eas.GetAttachment:
			b := serverRef(q.AttachmentName)
			if b == nil {
				http.NotFound(w, r)
				return true
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
		case eas.ItemOperations:
			req, err := wbxml.Decode(body)
			if err != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return true
			}
			ref := req.Find("ItemOperations:Fetch", "AirSyncBase:FileReference").Value()
			out, _ := wbxml.Encode(E("ItemOperations:ItemOperations", T("ItemOperations:Status", "1"), E("ItemOperations:Response",
				E("ItemOperations:Fetch", T("ItemOperations:Status", "1"), T("AirSyncBase:FileReference", ref),
					E("ItemOperations:Properties", T("AirSyncBase:ContentType", "application/octet-stream"),
						T("ItemOperations:Data", base64.StdEncoding.EncodeToString(serverRef(ref))))))))
			w.Header().Set("Content-Type", WBXMLContentType)
			w.Write(out)
		default:
			w.Header().Set("Content-Type", WBXMLContentType)
			w.Write(box)
		}
		return true
	})
	mustUpsert(t, e.store, device.Record{DeviceID: "MANAGED", Managed: true})
	sync := func(t *testing.T, user, dev string) {
		t.Helper()
		if res := e.eas(t, easReq{cmd: "Sync", user: user, deviceID: dev, devType: "iPhone"}); res.Status != http.StatusOK {
			t.Fatalf("Sync: %d", res.Status)
		}
	}

	// The ways of asking for the attachment the Sync listed as ref.
	type form struct {
		name string
		get  func(t *testing.T, user, dev, ref string) (status int, body []byte) // body nil: refused
	}
	plain := func(escape func(string) string) func(t *testing.T, user, dev, ref string) (int, []byte) {
		return func(t *testing.T, user, dev, ref string) (int, []byte) {
			t.Helper()
			res := e.eas(t, easReq{user: user, query: "Cmd=GetAttachment&User=" + user + "&DeviceId=" + dev + "&DeviceType=iPhone&AttachmentName=" + escape(ref)})
			if res.Status != http.StatusOK {
				return res.Status, nil
			}
			return res.Status, res.Body
		}
	}
	once := func(s string) string { return url.QueryEscape(s) }
	forms := []form{
		{"plain", plain(func(s string) string { return s })},
		{"percent-encoded", plain(once)},
		{"double-encoded", plain(func(s string) string { return once(once(s)) })},
		{"base64 query", func(t *testing.T, user, dev, ref string) (int, []byte) {
			t.Helper()
			q := eas.Query{Form: eas.FormBase64, Command: eas.GetAttachment, Version: eas.V141, Locale: 0x0409,
				DeviceID: dev, DeviceType: "iPhone", User: user, AttachmentName: ref}
			enc, err := q.EncodeBase64()
			if err != nil {
				t.Fatal(err)
			}
			res := e.eas(t, easReq{user: user, query: enc})
			if res.Status != http.StatusOK {
				return res.Status, nil
			}
			return res.Status, res.Body
		}},
		{"ItemOperations Fetch", func(t *testing.T, user, dev, ref string) (int, []byte) {
			t.Helper()
			body, err := wbxml.Encode(E("ItemOperations:ItemOperations", E("ItemOperations:Fetch",
				T("ItemOperations:Store", "Mailbox"), T("AirSyncBase:FileReference", ref))))
			if err != nil {
				t.Fatal(err)
			}
			res := e.eas(t, easReq{cmd: "ItemOperations", user: user, deviceID: dev, devType: "iPhone", body: string(body)})
			if res.Status != http.StatusOK {
				return res.Status, nil
			}
			doc, err := wbxml.Decode(res.Body)
			if err != nil {
				t.Fatalf("ItemOperations answer: %v", err)
			}
			fetch := doc.Find("ItemOperations:Response", "ItemOperations:Fetch")
			if st := fetch.Child("ItemOperations:Status").Value(); st != "1" {
				return http.StatusForbidden, nil // Status 6: refused
			}
			data, err := base64.StdEncoding.DecodeString(fetch.Find("ItemOperations:Properties", "ItemOperations:Data").Value())
			if err != nil {
				t.Fatal(err)
			}
			return res.Status, data
		}},
	}
	// The references as a client may send them: as listed, and decoded.
	refs := func(n string) []string { return []string{"1%3a11%3a" + n, "1:11:" + n, "1%3A11%3A" + n} }
	want := func(t *testing.T, what, ref string, f form, user, dev string, verdict attach.Action, plain []byte) {
		t.Helper()
		status, body := f.get(t, user, dev, ref)
		switch verdict {
		case attach.Block:
			if body != nil {
				t.Errorf("%s %s %q: got %d and %q, want it refused", what, f.name, ref, status, body)
			}
		case attach.Allow:
			if !bytes.Equal(body, plain) {
				t.Errorf("%s %s %q: got %d and %q, want %q as it is", what, f.name, ref, status, body, plain)
			}
		case attach.Encrypt:
			r, err := attach.NewDecrypter(bytes.NewReader(body), master.Key(dev, user))
			if err != nil {
				t.Errorf("%s %s %q: got %d and %q, want it encrypted: %v", what, f.name, ref, status, body, err)
				return
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%s %s %q: decrypted %q, %v", what, f.name, ref, got, err)
			}
		}
	}

	sync(t, "jane", "MANAGED")
	sync(t, "ann", "BYOD")
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			for _, ref := range refs("1") {
				want(t, "setup.exe", ref, f, "jane", "MANAGED", attach.Block, nil)
			}
			for _, ref := range refs("2") {
				want(t, "report.pdf", ref, f, "jane", "MANAGED", attach.Encrypt, refContent["1:11:2"])
				want(t, "report.pdf (unmanaged)", ref, f, "ann", "BYOD", attach.Block, nil)
			}
			for _, ref := range refs("3") {
				want(t, "notes.txt", ref, f, "jane", "MANAGED", attach.Allow, refContent["1:11:3"])
				want(t, "notes.txt (unmanaged)", ref, f, "ann", "BYOD", attach.Allow, refContent["1:11:3"])
			}
			// Never listed: the strictest action of the device's
			// rules, block for both kinds here, however it is named.
			for _, ref := range refs("9") {
				want(t, "never listed", ref, f, "jane", "MANAGED", attach.Block, nil)
				want(t, "never listed (unmanaged)", ref, f, "ann", "BYOD", attach.Block, nil)
			}
			// Listed to jane, not to bob on the same device.
			want(t, "another user's", "1%3a11%3a3", f, "bob", "MANAGED", attach.Block, nil)
		})
	}
	// A restart forgets every listing: what was allowed is now unknown.
	active = newRules()
	for _, f := range forms {
		want(t, "listed before a restart", "1%3a11%3a3", f, "jane", "MANAGED", attach.Block, nil)
	}
	// The transaction log says why.
	e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool {
		return r.Attrs["cmd"] == "GetAttachment" && r.Attrs["attachment_unlisted"] == true
	})
	sync(t, "jane", "MANAGED")
	for _, f := range forms {
		want(t, "listed again", "1%3a11%3a3", f, "jane", "MANAGED", attach.Allow, refContent["1:11:3"])
	}
}
