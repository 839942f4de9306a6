package daemon

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/devicesync"
	"github.com/mailgate/enforcer/l7/tlscert/tlscerttest"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const testPushToken = "0123456789abcdef0123456789abcdef-push"

// mustPushGateway starts the gateway with the push API on a loopback
// port (plain HTTP unless certFile is set) and returns it and its log.
func mustPushGateway(t *testing.T, certFile, keyFile string) (*gateway, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "push.token")
	if err := os.WriteFile(tokenFile, []byte(testPushToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{StateDir: dir}
	cfg.Devices.MaxDiscovered = 10
	cfg.Devices.Push = config.DevicePush{Listen: "127.0.0.1:0", TokenFile: tokenFile, CertFile: certFile, KeyFile: keyFile, PlainHTTP: certFile == ""}
	logs := &lockedBuffer{}
	g, err := startGateway(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if g.pushAddr == nil {
		t.Fatal("push API not serving")
	}
	return g, logs
}

func pushRequest(t *testing.T, g *gateway, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.pushAddr.String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testPushToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPushTransformsNamingFilesRefused: a document from device management
// may not name files. Before, the gateway opened them as root: a domain
// list naming a secret file echoed its first line in the 400 answer and
// the log, and a new key_file was created.
func TestPushTransformsNamingFilesRefused(t *testing.T) {
	g, logs := mustPushGateway(t, "", "")
	dir := t.TempDir()
	const secret = "root:$y$j9T$SeCrEtHaShOfRoOt:19000:0:99999:7:::"
	secretFile := filepath.Join(dir, "shadow")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(dir, "new.key")
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"domains_file", fmt.Sprintf(`{"links": {"http_scheme": "mibrowser", "https_scheme": "mibrowsers", "domains_file": %q}}`, secretFile), "links.domains_file"},
		{"key_file new", fmt.Sprintf(`{"attachments": {"managed": {"default": "encrypt"}, "key_file": %q}}`, newKey), "attachments.key_file"},
		{"key_file secret", fmt.Sprintf(`{"attachments": {"managed": {"default": "encrypt"}, "key_file": %q}}`, secretFile), "attachments.key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := pushRequest(t, g, http.MethodPut, "/v1/transforms", tc.doc)
			if status != http.StatusBadRequest {
				t.Fatalf("PUT /v1/transforms: %d %s, want 400", status, body)
			}
			if !strings.Contains(body, tc.field) || !strings.Contains(body, "may not name files") {
				t.Errorf("answer %s does not name %s and say why", body, tc.field)
			}
			for _, where := range []struct{ name, text string }{{"answer", body}, {"log", logs.String()}} {
				if strings.Contains(where.text, "SeCrEt") {
					t.Errorf("the %s holds the secret file's content:\n%s", where.name, where.text)
				}
			}
			if _, err := os.Lstat(newKey); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the document's key_file was created (%v)", err)
			}
			// A pull page's document goes through the same check.
			if err := g.transformsHook().Check([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), "may not name files") {
				t.Errorf("pull check: %v, want a refusal", err)
			}
		})
	}
	if doc, _ := g.db.Transforms(); doc != nil {
		t.Errorf("a refused document was stored: %s", doc)
	}
	// Inline domains and the state directory's key are fine.
	ok := `{"links": {"http_scheme": "mibrowser", "https_scheme": "mibrowsers", "mode": "include", "domains": ["intranet.test"]}, "attachments": {"managed": {"default": "encrypt"}}}`
	if status, body := pushRequest(t, g, http.MethodPut, "/v1/transforms", ok); status != http.StatusOK {
		t.Fatalf("inline document: %d %s", status, body)
	}
	if g.transforms.Load() == nil || g.transforms.Load().Master == nil {
		t.Fatal("the inline document is not in force")
	}
}

// TestPushCertificateReloaded: after the certificate files are replaced,
// new TLS handshakes with the push API get the new certificate. Before,
// it was loaded once at start.
func TestPushCertificateReloaded(t *testing.T) {
	old := pushCertCheck
	pushCertCheck = time.Millisecond
	t.Cleanup(func() { pushCertCheck = old })
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	tlscerttest.WritePair(t, certFile, keyFile, "old.test", t0)
	g, _ := mustPushGateway(t, certFile, keyFile)
	served := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.pushAddr.String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "old.test" {
		t.Fatalf("serves %q, want old.test", got)
	}
	tlscerttest.WritePair(t, certFile, keyFile, "new.test", t0.Add(time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	for served() != "new.test" {
		if time.Now().After(deadline) {
			t.Fatal("the push API still serves the old certificate")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPushSlowClientCutOff: a client that trickles its request body
// (slowloris) is cut off within the read timeout. Before, the push
// server had no read timeout: it held the connection as long as bytes
// kept coming.
func TestPushSlowClientCutOff(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	old := pushServerOptions
	pushServerOptions = func(log *slog.Logger) devicesync.PushServerOptions {
		o := old(log)
		o.ReadTimeout = readTimeout
		return o
	}
	t.Cleanup(func() { pushServerOptions = old })
	g, _ := mustPushGateway(t, "", "")
	c, err := net.DialTimeout("tcp", g.pushAddr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "PUT /v1/policy HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", testPushToken)
	// Trickle a byte at a time until the server closes; bounded.
	cut := false
	for i := 0; i < 400 && !cut; i++ {
		if _, err := c.Write([]byte(" ")); err != nil {
			cut = true
			break
		}
		c.SetReadDeadline(time.Now().Add(25 * time.Millisecond))
		var b [512]byte
		if _, err := c.Read(b[:]); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				cut = true // EOF or reset: closed
			}
		} else {
			// An error answer; the connection closes after it.
			cut = true
		}
	}
	elapsed := time.Since(start)
	if !cut {
		t.Fatalf("a slow client still holds the connection after %v (read timeout %v)", elapsed, readTimeout)
	}
	if elapsed > readTimeout+5*time.Second {
		t.Fatalf("cut off after %v, want within about %v", elapsed, readTimeout)
	}
}

// TestPushConnectionCap: with the cap reached, one more connection is
// not served until one of the others closes. Before, there was no cap.
func TestPushConnectionCap(t *testing.T) {
	const max = 2
	old := pushServerOptions
	pushServerOptions = func(log *slog.Logger) devicesync.PushServerOptions {
		o := old(log)
		o.MaxConns = max
		return o
	}
	t.Cleanup(func() { pushServerOptions = old })
	g, _ := mustPushGateway(t, "", "")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", g.pushAddr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn) {
		fmt.Fprintf(c, "GET /v1/policy HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n\r\n", testPushToken)
	}
	answered := func(c net.Conn, within time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(within))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	held := make([]net.Conn, max)
	for i := range held {
		held[i] = dial()
		get(held[i])
		if !answered(held[i], 5*time.Second) {
			t.Fatalf("connection %d not served", i+1)
		}
	}
	extra := dial()
	get(extra)
	if answered(extra, 500*time.Millisecond) {
		t.Fatalf("connection %d served with the cap at %d", max+1, max)
	}
	held[0].Close()
	if !answered(extra, 5*time.Second) {
		t.Fatalf("connection %d not served after one closed", max+1)
	}
}
