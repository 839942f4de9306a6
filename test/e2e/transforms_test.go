package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/wbxml"
	"github.com/mailgate/enforcer/test/testenv"
)

// The email transforms end to end (issue 6, "Done when" 4): one mailbox,
// served by a fake Exchange, synced through the running proxy by a
// managed and an unmanaged phone, each getting its own transforms.

var (
	mailboxHTML = `<html><body><p>Quarterly numbers: <a href="https://intranet.example/q3">Q3</a>` +
		` and <a href="http://portal.example/x">portal</a>.</p><img src="https://cdn.example/logo.png"></body></html>`
	reportPDF = []byte("%PDF-1.7\nquarterly report, confidential\n%%EOF\n")
)

// mailbox is the Sync answer: one message with an HTML body and two
// attachments.
func mailbox() []byte {
	E, T := wbxml.Elem, wbxml.ElemText
	att := func(name, ref string, size int) *wbxml.Node {
		return E("AirSyncBase:Attachment", T("AirSyncBase:DisplayName", name), T("AirSyncBase:FileReference", ref),
			T("AirSyncBase:Method", "1"), T("AirSyncBase:EstimatedDataSize", fmt.Sprint(size)))
	}
	doc := E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:SyncKey", "2"), T("AirSync:CollectionId", "1"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "1:1"), E("AirSync:ApplicationData",
			T("Email:Subject", "Q3 numbers"), T("Email:MessageClass", "IPM.Note"),
			E("AirSyncBase:Body", T("AirSyncBase:Type", "2"), T("AirSyncBase:EstimatedDataSize", fmt.Sprint(len(mailboxHTML))),
				T("AirSyncBase:Truncated", "0"), T("AirSyncBase:Data", mailboxHTML)),
			E("AirSyncBase:Attachments", att("report.pdf", "1:1:report.pdf", len(reportPDF)), att("setup.exe", "1:1:setup.exe", 4096))))))))
	b, err := wbxml.Encode(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func mustExchange(t *testing.T, l *lab) {
	t.Helper()
	var ln net.Listener
	if err := l.server.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", upstreamPort))
		return err
	}); err != nil {
		t.Fatalf("exchange listen: %v", err)
	}
	box := mailbox()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Query().Get("Cmd") {
		case "GetAttachment":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(reportPDF)
		default:
			w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
			w.Write(box)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// easDo sends one ActiveSync command from src and returns the status, the
// content type and the body.
func (l *lab) easDo(src netip.Addr, query, user string) (int, string, []byte, error) {
	var status int
	var ctype string
	var body []byte
	err := l.client.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: passTimeout}
		c, err := d.Dial("tcp", netip.AddrPortFrom(families[0].server, easPort).String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(passTimeout))
		req, _ := http.NewRequest(http.MethodPost, "http://gateway/Microsoft-Server-ActiveSync?"+query, bytes.NewReader([]byte{3, 1, 0x6a, 0}))
		req.Header.Set("MS-ASProtocolVersion", "16.1")
		req.Header.Set("User-Agent", "Apple-iPhone15C2/2104.84")
		req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
		req.SetBasicAuth(user, "secret")
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		status, ctype = resp.StatusCode, resp.Header.Get("Content-Type")
		return err
	})
	return status, ctype, body, err
}

func TestTransformsEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	l := mustLab(t)
	mustExchange(t, l)
	tokenFile := filepath.Join(t.TempDir(), "push.token")
	if err := os.WriteFile(tokenFile, []byte(pushToken), 0o600); err != nil {
		t.Fatal(err)
	}
	a := mustAppliance(t, l, applianceOptions{extra: fmt.Sprintf(`  - name: activesync
    ports: [%d]
    countries: [AT, CH, DE]
proxy: {listen: ":%d", upstream: "http://127.0.0.1:%d", plain_http: true}
devices:
  push: {listen: "127.0.0.1:%d", token_file: %q, plain_http: true}
  policy: {revision: e2e-transforms}
transforms:
  links: {mode: all, http_scheme: mibrowser, https_scheme: mibrowsers}
  attachments:
    managed: {default: allow, rules: [{extensions: [exe], action: block}, {extensions: [pdf], action: encrypt}]}
    unmanaged: {default: block}
    blocked_notice: Attachments were removed by your company's policy.
`, easPort, easPort, upstreamPort, pushPort, tokenFile)})
	a.start(t, a.bin)
	l.push(t, http.MethodPut, "/v1/devices/MANAGED1", map[string]any{"device_id": "MANAGED1", "user": "jane@example.com", "managed": true})
	l.push(t, http.MethodPut, "/v1/devices/BYOD1", map[string]any{"device_id": "BYOD1", "user": "jane@example.com", "managed": false})
	de := sourceNamed(t, "allowed-country").v4

	sync := func(t *testing.T, deviceID string) *wbxml.Node {
		t.Helper()
		status, _, body, err := l.easDo(de, "Cmd=Sync&User=jane@example.com&DeviceType=iPhone&DeviceId="+deviceID, "jane@example.com")
		if err != nil || status != http.StatusOK {
			t.Fatalf("Sync of %s: %d, %v", deviceID, status, err)
		}
		doc, err := wbxml.Decode(body)
		if err != nil {
			t.Fatalf("Sync of %s: the answer is not WBXML: %v", deviceID, err)
		}
		return doc.Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add", "AirSync:ApplicationData")
	}
	names := func(item *wbxml.Node) []string {
		var out []string
		if list := item.Child("AirSyncBase:Attachments"); list != nil {
			for _, at := range list.ChildrenNamed("AirSyncBase:Attachment") {
				out = append(out, at.Child("AirSyncBase:DisplayName").Value())
			}
		}
		return out
	}

	t.Run("managed device", func(t *testing.T) {
		item := sync(t, "MANAGED1")
		body := item.Find("AirSyncBase:Body", "AirSyncBase:Data").Value()
		want := strings.NewReplacer(`href="https://`, `href="mibrowsers://`, `href="http://`, `href="mibrowser://`).Replace(mailboxHTML) +
			"<p>Attachments were removed by your company&#39;s policy.</p>"
		if body != want && body != strings.Replace(want, "&#39;", "'", 1) {
			t.Errorf("body:\n%s\nwant:\n%s", body, want)
		}
		if got := names(item); strings.Join(got, ",") != "report.pdf.enc" {
			t.Errorf("attachments %q, want report.pdf.enc only", got)
		}
		status, ctype, enc, err := l.easDo(de, "Cmd=GetAttachment&User=jane@example.com&DeviceType=iPhone&DeviceId=MANAGED1&AttachmentName=1:1:report.pdf", "jane@example.com")
		if err != nil || status != http.StatusOK || ctype != "application/octet-stream" {
			t.Fatalf("GetAttachment: %d %q, %v", status, ctype, err)
		}
		// The managed content app's key, from the admin API.
		var ak struct{ Key string }
		a.cliJSON(t, &ak, "device", "key", "MANAGED1", "--user", "jane@example.com")
		raw, err := base64.StdEncoding.DecodeString(ak.Key)
		if err != nil || len(raw) != 32 {
			t.Fatalf("device key: %q, %v", ak.Key, err)
		}
		var key attach.Key
		copy(key[:], raw)
		master, err := attach.LoadOrCreateMaster(filepath.Join(a.stateDir, "attachment.key"))
		if err != nil {
			t.Fatal(err)
		}
		if key != master.Key("MANAGED1", "jane@example.com") {
			t.Error("the admin API's key is not the one derived from the master secret")
		}
		r, err := attach.NewDecrypter(bytes.NewReader(enc), key)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(plain, reportPDF) {
			t.Errorf("decrypted attachment %q, %v; want the original", plain, err)
		}
		if r, err := attach.NewDecrypter(bytes.NewReader(enc), master.Key("BYOD1", "jane@example.com")); err == nil {
			if _, err := io.ReadAll(r); err == nil {
				t.Error("another device's key decrypted the attachment")
			}
		}
	})
	t.Run("unmanaged device", func(t *testing.T) {
		item := sync(t, "BYOD1")
		body := item.Find("AirSyncBase:Body", "AirSyncBase:Data").Value()
		if !strings.HasPrefix(body, mailboxHTML) || !strings.Contains(body, "removed by your company") {
			t.Errorf("unmanaged body (links untouched, notice appended):\n%s", body)
		}
		if got := names(item); len(got) != 0 {
			t.Errorf("attachments %q, want none", got)
		}
		status, _, _, err := l.easDo(de, "Cmd=GetAttachment&User=jane@example.com&DeviceType=iPhone&DeviceId=BYOD1&AttachmentName=1:1:report.pdf", "jane@example.com")
		if err != nil || status != http.StatusForbidden {
			t.Errorf("unmanaged GetAttachment: %d, %v; want 403", status, err)
		}
	})
}
