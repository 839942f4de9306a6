package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/l7/wbxml"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// The L7 gateway end to end (issue 5, "Done when" 3): the real binary in
// the lab's server namespace, XDP attached in front of the proxy, a fake
// mail server behind it on the namespace's loopback, device records pushed
// through the push API, and clients in the client namespace.

const (
	easPort      = 443  // activesync, geofenced to the lab's countries
	upstreamPort = 8081 // the fake mail server, 127.0.0.1 in the server namespace
	pushPort     = 8444 // the push API, 127.0.0.1 in the server namespace
	pushToken    = "e2e-push-token-0123456789abcdef0123456789"
)

// mailServer is a fake Exchange: it answers every ActiveSync request 200
// with a Sync response and counts the requests per device.
type mailServer struct {
	mu   sync.Mutex
	seen map[string]int
	srv  *http.Server
}

var syncOK = func() []byte {
	b, err := wbxml.Encode(wbxml.Elem("AirSync:Sync", wbxml.ElemText("AirSync:Status", "1")))
	if err != nil {
		panic(err)
	}
	return b
}()

func mustMailServer(t *testing.T, ns *netns.NS) *mailServer {
	t.Helper()
	return mustMailServerOn(t, ns, fmt.Sprintf("127.0.0.1:%d", upstreamPort))
}

// mustMailServerOn runs the fake Exchange on listen in ns.
func mustMailServerOn(t *testing.T, ns *netns.NS, listen string) *mailServer {
	t.Helper()
	m := &mailServer{seen: map[string]int{}}
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		t.Fatalf("mail server listen: %v", err)
	}
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		m.mu.Lock()
		m.seen[r.URL.Query().Get("DeviceId")]++
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
		w.Write(syncOK)
	}), ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(l)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

func (m *mailServer) count(deviceID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[deviceID]
}

// easResponse is what a client got.
type easResponse struct {
	status    int
	easStatus string // the WBXML Status, "" when the body is not WBXML
}

// easSync sends one ActiveSync Sync from src in the client namespace to the
// proxy, on a connection of its own. The dial and the exchange happen on
// the namespace's locked thread, so no goroutine of an http.Transport
// dials from the host's namespace.
func (l *lab) easSync(src netip.Addr, deviceID, user string, timeout time.Duration) (easResponse, error) {
	var res easResponse
	err := l.client.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err := d.Dial("tcp", netip.AddrPortFrom(families[0].server, easPort).String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(passTimeout))
		body := []byte{0x03, 0x01, 0x6a, 0x00} // an empty WBXML document header: the proxy does not parse Sync bodies
		req, _ := http.NewRequest(http.MethodPost, "http://gateway/Microsoft-Server-ActiveSync?Cmd=Sync&User="+user+"&DeviceId="+deviceID+"&DeviceType=iPhone", bytes.NewReader(body))
		req.Header.Set("MS-ASProtocolVersion", "16.1")
		req.Header.Set("User-Agent", "Apple-iPhone15C2/2104.84")
		req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
		req.SetBasicAuth(user, "secret")
		if err := req.Write(c); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("receive body: %w", err)
		}
		res.status = resp.StatusCode
		if resp.Header.Get("Content-Type") == "application/vnd.ms-sync.wbxml" {
			root, err := wbxml.Decode(b)
			if err != nil {
				return fmt.Errorf("decode the WBXML body % X: %w", b, err)
			}
			for _, ch := range root.Children {
				if ch.Name() == "AirSync:Status" {
					res.easStatus = ch.Value()
				}
			}
		}
		return nil
	})
	return res, err
}

// push sends one request to the push API from inside the server
// namespace; it must succeed.
func (l *lab) push(t *testing.T, method, path string, body any) {
	t.Helper()
	if code := l.pushStatus(t, method, path, body); code != http.StatusOK {
		t.Fatalf("push %s %s: %d", method, path, code)
	}
}

// pushStatus sends one request to the push API and returns its status.
func (l *lab) pushStatus(t *testing.T, method, path string, body any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var code int
	err = l.server.Do(func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pushPort), passTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(passTimeout))
		req, _ := http.NewRequest(method, "http://gateway"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+pushToken)
		req.Header.Set("Content-Type", "application/json")
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		code = resp.StatusCode
		return nil
	})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return code
}

func gatewayConfig(t *testing.T) string {
	t.Helper()
	return gatewayConfigTo(t, fmt.Sprintf("http://127.0.0.1:%d", upstreamPort), "")
}

// gatewayConfigTo is gatewayConfig with the proxy's upstream URL and more
// proxy fields (indented lines).
func gatewayConfigTo(t *testing.T, upstream, proxyExtra string) string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "push.token")
	if err := os.WriteFile(tokenFile, []byte(pushToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`  - name: activesync
    ports: [%d]
    countries: [AT, CH, DE]
    allow: *lab
proxy:
  listen: ":%d"
  upstream: %s
  plain_http: true
%sdevices:
  push: {listen: "127.0.0.1:%d", token_file: %q, plain_http: true}
  policy:
    revision: e2e
    managed_only: true
    block_compromised: true
`, easPort, easPort, upstream, proxyExtra, pushPort, tokenFile)
}

func TestGatewayEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	l := mustLab(t)
	mail := mustMailServer(t, l.server)
	a := mustAppliance(t, l, applianceOptions{extra: gatewayConfig(t)})
	a.start(t, a.bin)

	l.push(t, http.MethodPut, "/v1/devices/GOODPHONE", map[string]any{
		"device_id": "GOODPHONE", "user": "jane@example.com", "managed": true,
		"compromised": "no", "encrypted": "yes", "platform": "Apple", "model": "iPhone 15", "os_version": "17.4",
	})
	l.push(t, http.MethodPut, "/v1/devices/ROOTEDPHONE", map[string]any{
		"device_id": "ROOTEDPHONE", "user": "joe@example.com", "managed": true,
		"compromised": "yes", "platform": "Android", "os_version": "14",
	})
	de := sourceNamed(t, "allowed-country").v4
	br := sourceNamed(t, "other-country").v4

	expect := func(t *testing.T, src netip.Addr, deviceID, user string, status int, easStatus string) {
		t.Helper()
		before := mail.count(deviceID)
		res, err := l.easSync(src, deviceID, user, passTimeout)
		if err != nil {
			t.Fatalf("Sync of %s from %s: %v", deviceID, src, err)
		}
		if res.status != status || res.easStatus != easStatus {
			t.Fatalf("Sync of %s from %s: HTTP %d, EAS Status %q; want %d, %q", deviceID, src, res.status, res.easStatus, status, easStatus)
		}
		forwarded := mail.count(deviceID) - before
		if wantFwd := map[bool]int{true: 1, false: 0}[easStatus == "1"]; forwarded != wantFwd {
			t.Fatalf("Sync of %s: the mail server saw %d requests, want %d", deviceID, forwarded, wantFwd)
		}
	}

	t.Run("compliant device syncs", func(t *testing.T) {
		expect(t, de, "GOODPHONE", "jane@example.com", http.StatusOK, "1")
	})
	t.Run("compromised device is blocked", func(t *testing.T) {
		// 129 DeviceIsBlockedForThisUser in the Sync response, which a
		// client shows the user instead of retrying.
		expect(t, de, "ROOTEDPHONE", "joe@example.com", http.StatusOK, "129")
	})
	t.Run("unknown device is blocked and discovered", func(t *testing.T) {
		// managed_only: a device without a record is not managed: 145.
		expect(t, de, "NEWPHONE", "ann@example.com", http.StatusOK, "145")
		var v adminapi.DeviceView
		a.cliJSON(t, &v, "device", "show", "NEWPHONE")
		if v.HasRecord || !v.Seen || v.User != "ann@example.com" || v.DeviceType != "iPhone" || v.SourceIP != de.String() || v.Decision.Reason != "general.unmanaged" {
			t.Errorf("device show NEWPHONE: %+v", v)
		}
	})
	t.Run("disallowed country never reaches the proxy", func(t *testing.T) {
		before := a.stats(t)
		l7 := a.mustStatus(t).L7
		if _, err := l.easSync(br, "GOODPHONE", "jane@example.com", dropTimeout); err == nil || !isTimeout(err) {
			t.Fatalf("Sync from a disallowed country: %v, want a connection timeout (SYN dropped)", err)
		}
		a.waitStats(t, "activesync", before, map[statKey]uint64{{"activesync", "drop", "not-in-set"}: 1})
		after := a.mustStatus(t).L7
		if after.Discovered != l7.Discovered {
			t.Errorf("the proxy learnt of a device from a dropped source: %d discovered, was %d", after.Discovered, l7.Discovered)
		}
	})
	t.Run("administrator overrides", func(t *testing.T) {
		a.mustCLI(t, "device", "block", "GOODPHONE")
		expect(t, de, "GOODPHONE", "jane@example.com", http.StatusOK, "129")
		a.mustCLI(t, "device", "allow", "ROOTEDPHONE")
		expect(t, de, "ROOTEDPHONE", "joe@example.com", http.StatusOK, "1")
		a.mustCLI(t, "device", "default", "GOODPHONE", "ROOTEDPHONE")
		expect(t, de, "GOODPHONE", "jane@example.com", http.StatusOK, "1")
		expect(t, de, "ROOTEDPHONE", "joe@example.com", http.StatusOK, "129")
	})
	t.Run("records, overrides and policy survive a restart", func(t *testing.T) {
		a.mustCLI(t, "device", "quarantine", "GOODPHONE")
		a.stop(t, syscall.SIGTERM)
		a.start(t, a.bin)
		expect(t, de, "GOODPHONE", "jane@example.com", http.StatusOK, "130")
		expect(t, de, "ROOTEDPHONE", "joe@example.com", http.StatusOK, "129")
		a.mustCLI(t, "device", "default", "GOODPHONE")
		expect(t, de, "GOODPHONE", "jane@example.com", http.StatusOK, "1")
		csv := a.mustCLI(t, "device", "export")
		if !strings.Contains(csv, "GOODPHONE") || !strings.Contains(csv, "ROOTEDPHONE") {
			t.Errorf("device export lacks a device:\n%s", csv)
		}
		var pv adminapi.PolicyView
		a.cliJSON(t, &pv, "policy", "show")
		if pv.Source != "config" || pv.Revision != "e2e" || pv.Records != 2 {
			t.Errorf("policy show: %+v", pv)
		}
	})
	t.Run("email security pushed by device management", func(t *testing.T) {
		if code := l.pushStatus(t, http.MethodPut, "/v1/transforms", map[string]any{"links": map[string]any{"mode": "sometimes"}}); code != http.StatusBadRequest {
			t.Errorf("a bad document: %d, want 400", code)
		}
		l.push(t, http.MethodPut, "/v1/transforms", map[string]any{
			"links": map[string]any{"mode": "all", "http_scheme": "mibrowser", "https_scheme": "mibrowsers"}})
		var pv adminapi.PolicyView
		a.cliJSON(t, &pv, "policy", "show")
		if pv.TransformsSource != "device-management" || !strings.Contains(pv.Transforms, "mibrowsers") {
			t.Errorf("policy show after the push: %q from %q", pv.Transforms, pv.TransformsSource)
		}
		// Stored: it survives a restart.
		a.stop(t, syscall.SIGTERM)
		a.start(t, a.bin)
		a.cliJSON(t, &pv, "policy", "show")
		if pv.TransformsSource != "device-management" {
			t.Errorf("after a restart: transforms from %q", pv.TransformsSource)
		}
	})
	t.Run("CSV import", func(t *testing.T) {
		// NEWPHONE enrolls: device management's export, imported by hand.
		f := filepath.Join(t.TempDir(), "devices.csv")
		csv := "device_id,user,managed,compromised,encrypted,platform,model,os_version,last_check_in,eas_profile,override,updated\n" +
			"NEWPHONE,ann@example.com,true,no,yes,Apple,iPhone 14,17.2,,true,default,2026-11-01T00:00:00Z\n"
		if err := os.WriteFile(f, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		a.mustCLI(t, "device", "import", f)
		expect(t, de, "NEWPHONE", "ann@example.com", http.StatusOK, "1")
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("device_id,managed\nX,perhaps\n"), 0o600)
		if r := a.cli(t, "device", "import", bad); r.err == nil || !strings.Contains(r.stderr, "bad.csv:2") {
			t.Errorf("a bad CSV: %v, stderr %q; want an error naming bad.csv:2", r.err, r.stderr)
		}
	})
}
