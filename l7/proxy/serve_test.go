package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

// served is a proxy run by Serve on a loopback listener.
type served struct {
	*env
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func serve(tb testing.TB, mod func(*Config)) *served {
	tb.Helper()
	return serveDeps(tb, mod, nil)
}

// serveDeps is serve with deps adjusting the proxy's Deps.
func serveDeps(tb testing.TB, mod func(*Config), deps func(*Deps)) *served {
	tb.Helper()
	dir := tb.TempDir()
	certFile, keyFile, _ := testCert(tb, dir, "gw", 1)
	e := &env{mail: newFakeMail(tb), logs: &logRecords{}}
	e.store = device.NewStore(device.StoreOptions{})
	e.store.SetPolicy(mustPolicy(tb, device.Config{}))
	cfg := Config{Upstream: e.mail.URL, UpstreamCAFile: e.mail.caFile(tb), CertFile: certFile, KeyFile: keyFile}
	if mod != nil {
		mod(&cfg)
	}
	d := Deps{Store: e.store, Logger: slog.New(e.logs.handler())}
	if deps != nil {
		deps(&d)
	}
	p, err := New(cfg, d)
	if err != nil {
		tb.Fatal(err)
	}
	e.proxy = p
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{env: e, addr: l.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Serve(ctx, l) }()
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

func (s *served) stop(tb testing.TB) {
	tb.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			tb.Errorf("Serve: %v", err)
		}
		s.done <- nil
	case <-time.After(20 * time.Second):
		tb.Error("Serve did not return after its context was done")
	}
}

// client trusts the certificate in certFile.
func tlsClient(tb testing.TB, certFile string, h2 bool) *http.Client {
	tb.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

const syncPath = "/Microsoft-Server-ActiveSync?Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone"

// TestServeTLS: HTTP/1.1 and HTTP/2 over TLS, and 431 for oversized
// headers.
func TestServeTLS(t *testing.T) {
	s := serve(t, func(c *Config) { c.MaxHeaderBytes = 8 << 10 })
	for _, h2 := range []bool{false, true} {
		c := tlsClient(t, s.proxy.cfg.CertFile, h2)
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+syncPath, strings.NewReader("x"))
		req.Header.Set("MS-ASProtocolVersion", "14.1")
		req.SetBasicAuth("jane", "secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("h2=%v: %v", h2, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		wantProto := map[bool]int{false: 1, true: 2}[h2]
		if resp.StatusCode != 200 || resp.ProtoMajor != wantProto {
			t.Errorf("h2=%v: %d %s", h2, resp.StatusCode, resp.Proto)
		}
		if got := s.mail.requests(); got[len(got)-1].Header.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("h2=%v: X-Forwarded-Proto %q", h2, got[len(got)-1].Header.Get("X-Forwarded-Proto"))
		}

		req, _ = http.NewRequest(http.MethodPost, "https://"+s.addr+syncPath, nil)
		req.Header.Set("X-Big", strings.Repeat("a", 32<<10))
		resp, err = c.Do(req)
		switch {
		case h2 && err != nil && strings.Contains(err.Error(), "larger than peer's advertised limit"):
			// The gateway announced its limit in SETTINGS_MAX_HEADER_LIST_SIZE
			// and Go's client honours it; a client that does not gets 431.
		case err != nil:
			t.Fatalf("h2=%v big header: %v", h2, err)
		default:
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("h2=%v big header: %d, want 431", h2, resp.StatusCode)
			}
		}
	}
	if n := len(s.mail.requests()); n != 2 {
		t.Errorf("mail server got %d requests, want 2 (the oversized ones stopped at the gateway)", n)
	}
}

// TestCertReload: a renewed certificate is served to new connections
// without a restart; a broken pair keeps the old one.
func TestCertReload(t *testing.T) {
	s := serve(t, func(c *Config) { c.CertCheckInterval = time.Nanosecond })
	peerSerial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := peerSerial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	dir := t.TempDir()
	c2, k2, _ := testCert(t, dir, "renewed", 2)
	install := func(src, dst string, mtime time.Time) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// The certificate renewed, the key not yet: the pair does not load.
	later := time.Now().Add(time.Minute)
	install(c2, s.proxy.cfg.CertFile, later)
	if got := peerSerial(); got != 1 {
		t.Fatalf("half-renewed pair: serial %d, want the old 1", got)
	}
	install(k2, s.proxy.cfg.KeyFile, later.Add(time.Second))
	if got := peerSerial(); got != 2 {
		t.Fatalf("after renewal: serial %d, want 2", got)
	}
}

// TestMaxConns: beyond MaxConns, a connection waits for a slot instead of
// being served; it is served once one frees.
func TestMaxConns(t *testing.T) {
	s := serve(t, func(c *Config) { c.MaxConns = 1 })
	first, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.proxy.OpenConns() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("first connection not counted")
		}
		time.Sleep(time.Millisecond)
	}
	raw, err := net.Dial("tcp", s.addr) // queued in the kernel's backlog
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	second := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	_ = second.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if err := second.Handshake(); err == nil {
		t.Fatal("second connection served while the first held the only slot")
	}
	raw.Close()
	first.Close()
	// A fresh connection gets the slot once the first is gone.
	c := tlsClient(t, s.proxy.cfg.CertFile, false)
	resp, err := c.Get("https://" + s.addr + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestShutdown: a long poll in flight when Serve's context ends is given
// ShutdownTimeout, then cut; Serve returns nil.
func TestShutdown(t *testing.T) {
	s := serve(t, func(c *Config) { c.ShutdownTimeout = 200 * time.Millisecond })
	held := make(chan struct{})
	s.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		close(held)
		<-r.Context().Done() // the gateway cancels the upstream request
		return true
	})
	c := tlsClient(t, s.proxy.cfg.CertFile, false)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+strings.Replace(syncPath, "Cmd=Sync", "Cmd=Ping", 1), nil)
		req.SetBasicAuth("jane", "secret")
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = errors.New(resp.Status)
			}
		}
		errc <- err
	}()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the Ping did not reach the mail server")
	}
	s.stop(t)
	select {
	case err := <-errc:
		if err == nil {
			t.Error("the long poll completed normally across shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not cut")
	}
}

// TestNewValidates: configuration errors are reported by field: its key in
// the configuration file, else its Go name.
func TestNewValidates(t *testing.T) {
	store := device.NewStore(device.StoreOptions{})
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no upstream", Config{PlainHTTP: true}, "upstream"},
		{"bad scheme", Config{Upstream: "ftp://mail", PlainHTTP: true}, "upstream"},
		{"no certificate", Config{Upstream: "https://mail"}, "cert_file"},
		{"webmail prefix overlapping EAS", Config{Upstream: "https://mail", PlainHTTP: true,
			Webmail: WebmailConfig{Prefixes: []string{"/Microsoft-Server-ActiveSync"}}}, "webmail_prefixes[0]"},
		{"webmail prefix not clean", Config{Upstream: "https://mail", PlainHTTP: true, Webmail: WebmailConfig{Prefixes: []string{"owa/"}}}, "webmail_prefixes[0]"},
		{"long poll below command", Config{Upstream: "https://mail", PlainHTTP: true, LongPollTimeout: time.Second}, "LongPollTimeout"},
		{"negative streams", Config{Upstream: "https://mail", PlainHTTP: true, HTTP2MaxStreams: -1}, "http2_max_streams"},
		{"negative rate window", Config{Upstream: "https://mail", PlainHTTP: true, BodyRateWindow: -time.Second}, "body_rate_window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, Deps{Store: store})
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
	if _, err := New(Config{Upstream: "https://mail", PlainHTTP: true}, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil store: %v", err)
	}
	d := Config{}.WithDefaults()
	if d.LongPollTimeout != MaxHeartbeat+120*time.Second || d.CommandTimeout != 2*time.Minute || d.MaxConns != DefaultMaxConns || d.Webmail.Enabled {
		t.Errorf("defaults %+v", d)
	}
	if d.MaxConnsPerSource != 512 || d.HTTP2MaxStreams != 1000 || d.MaxUpstreamConns != d.MaxConns ||
		d.MinBodyRate != 1024 || d.BodyRateWindow != 30*time.Second || d.BodyTimeout != 15*time.Minute {
		t.Errorf("DoS limit defaults %+v", d)
	}
	if d := (Config{MaxConns: 10}).WithDefaults(); d.MaxUpstreamConns != 10 {
		t.Errorf("MaxUpstreamConns %d, want MaxConns 10", d.MaxUpstreamConns)
	}
}

// TestRawHTTP1KeepAlive: two requests on one connection, both proxied.
func TestRawHTTP1KeepAlive(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	c, err := net.Dial("tcp", e.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "POST "+syncPath+" HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic amFuZTp4\r\nMS-ASProtocolVersion: 14.1\r\nContent-Length: 0\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: %d close=%v", i, resp.StatusCode, resp.Close)
		}
	}
}
