package proxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// seen is one request as the fake mail server received it.
type seen struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         []byte
}

// fakeMail is a mail server that speaks enough EAS, EWS, Autodiscover and
// webmail for the proxy's tests, and records what reached it. Handle
// overrides the default behaviour per test.
type fakeMail struct {
	*httptest.Server
	mu     sync.Mutex
	got    []seen
	Handle func(w http.ResponseWriter, r *http.Request, body []byte) bool // true: handled
}

func newFakeMail(tb testing.TB) *fakeMail {
	tb.Helper()
	f := &fakeMail{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Handshakes the gateway refuses (TestUpstreamTLSVerified) are expected.
	f.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.Server.StartTLS()
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeMail) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	// Streaming handlers read the body themselves.
	if r.Header.Get("X-Test-Stream-Body") == "" {
		body, _ = io.ReadAll(r.Body)
	}
	f.mu.Lock()
	f.got = append(f.got, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: body})
	h := f.Handle
	f.mu.Unlock()
	if h != nil && h(w, r, body) {
		return
	}
	switch staticRoute(r.URL.Path) {
	case routeEAS:
		if r.Method == http.MethodOptions {
			w.Header().Set("MS-ASProtocolVersions", "12.1,14.0,14.1,16.0,16.1")
			w.Header().Set("MS-ASProtocolCommands", "Sync,FolderSync,Ping,Provision")
			return
		}
		q, err := eas.ParseQuery(r.URL.RawQuery)
		if err != nil {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		var root *wbxml.Node
		switch q.Command {
		case eas.FolderSync:
			root = wbxml.Elem("FolderHierarchy:FolderSync", wbxml.ElemText("FolderHierarchy:Status", "1"))
		case eas.Ping:
			root = wbxml.Elem("Ping:Ping", wbxml.ElemText("Ping:Status", "1"))
		default:
			root = wbxml.Elem("AirSync:Sync", wbxml.ElemText("AirSync:Status", "1"))
		}
		b, _ := wbxml.Encode(root)
		w.Header().Set("Content-Type", WBXMLContentType)
		_, _ = w.Write(b)
	case routeEWS:
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>ok</s:Body></s:Envelope>`)
	case routeAutodiscover:
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Autodiscover>"+string(body)+"</Autodiscover>")
	default:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>webmail "+r.URL.Path+"</html>")
	}
}

// requests returns what reached the server so far.
func (f *fakeMail) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

func (f *fakeMail) setHandle(h func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	f.mu.Lock()
	f.Handle = h
	f.mu.Unlock()
}

// caFile writes the fake servers' certificate (httptest shares one) as a
// PEM file for Config.UpstreamCAFile.
func (f *fakeMail) caFile(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "upstream-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// logRecords collects log records as attribute maps.
type logRecords struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	Msg   string
	Level slog.Level
	Attrs map[string]any
}

func (l *logRecords) handler() slog.Handler { return &recordHandler{l: l} }

func (l *logRecords) all(msg string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.recs {
		if msg == "" || r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFor polls until a record with msg and, if req > 0, that request id
// exists: the transaction log is written after the response, so a client
// may see the response first.
func (l *logRecords) waitFor(tb testing.TB, msg string, pred func(logRecord) bool) logRecord {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, r := range l.all(msg) {
			if pred == nil || pred(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no %q log record matched; have %v", msg, l.all(""))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type recordHandler struct {
	l     *logRecords
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{}
	add := func(a slog.Attr) bool { flatten(m, "", a); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.l.mu.Lock()
	h.l.recs = append(h.l.recs, logRecord{Msg: r.Message, Level: r.Level, Attrs: m})
	h.l.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func flatten(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			flatten(m, prefix+a.Key+".", g)
		}
		return
	}
	m[prefix+a.Key] = v.Any()
}

// env is a proxy in front of a fake mail server, with a store and a log.
type env struct {
	mail  *fakeMail
	store *device.Store
	proxy *Proxy
	front *httptest.Server
	logs  *logRecords
	clock *testClock
}

// testClock is the proxy's clock in tests; requests read it after their
// response, so a test moving it must not race with them.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type envOption func(*Config, *device.StoreOptions)

// ewsOn enables the /EWS route (off by default).
func ewsOn(c *Config, _ *device.StoreOptions) { c.EWS.Enabled = true }

func newEnv(tb testing.TB, pol *device.Policy, opts ...envOption) *env {
	tb.Helper()
	return newEnvDeps(tb, pol, nil, opts...)
}

// newEnvDeps is newEnv with deps adjusting the proxy's Deps.
func newEnvDeps(tb testing.TB, pol *device.Policy, deps func(*Deps), opts ...envOption) *env {
	tb.Helper()
	e := &env{mail: newFakeMail(tb), logs: &logRecords{}, clock: &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}}
	cfg := Config{Upstream: e.mail.URL, UpstreamCAFile: e.mail.caFile(tb), PlainHTTP: true}
	var sopts device.StoreOptions
	for _, o := range opts {
		o(&cfg, &sopts)
	}
	e.store = device.NewStore(sopts)
	if pol != nil {
		e.store.SetPolicy(pol)
	}
	d := Deps{Store: e.store, Logger: slog.New(e.logs.handler()), Now: e.clock.Now}
	if deps != nil {
		deps(&d)
	}
	p, err := New(cfg, d)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	e.proxy = p
	e.front = httptest.NewServer(p.Handler())
	tb.Cleanup(e.front.Close)
	tb.Cleanup(p.CloseIdleConnections)
	return e
}

func mustPolicy(tb testing.TB, cfg device.Config) *device.Policy {
	tb.Helper()
	p, err := device.NewPolicy(cfg)
	if err != nil {
		tb.Fatalf("NewPolicy: %v", err)
	}
	return p
}

func mustUpsert(tb testing.TB, s *device.Store, recs ...device.Record) {
	tb.Helper()
	if err := s.Upsert(recs...); err != nil {
		tb.Fatalf("Upsert: %v", err)
	}
}

// easReq describes an EAS request for the tests.
type easReq struct {
	cmd      string
	user     string // Basic auth user; "" sends no Authorization
	deviceID string
	devType  string
	version  string // MS-ASProtocolVersion; default 14.1
	ua       string
	body     string
	query    string // overrides the built query
}

func (r easReq) query_() string {
	if r.query != "" {
		return r.query
	}
	v := url.Values{}
	v.Set("Cmd", r.cmd)
	if r.user != "" {
		v.Set("User", r.user)
	}
	v.Set("DeviceId", r.deviceID)
	v.Set("DeviceType", r.devType)
	return v.Encode()
}

func (e *env) easRequest(tb testing.TB, r easReq) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.front.URL+pathEAS+"?"+r.query_(), strings.NewReader(r.body))
	if err != nil {
		tb.Fatal(err)
	}
	if r.user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(r.user+":secret")))
	}
	ver := r.version
	if ver == "" {
		ver = "14.1"
	}
	req.Header.Set(eas.HeaderProtocolVersion, ver)
	ua := r.ua
	if ua == "" {
		ua = "Apple-iPhone15C2/2101.10"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Content-Type", WBXMLContentType)
	return req
}

// result is what the client saw.
type result struct {
	Status int
	Header http.Header
	Body   []byte
}

func do(tb testing.TB, req *http.Request) result {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (e *env) eas(tb testing.TB, r easReq) result {
	tb.Helper()
	return do(tb, e.easRequest(tb, r))
}

// decodeStatus decodes a block response and returns the Status element's
// value and the path of element names to it.
func decodeStatus(tb testing.TB, b []byte) (string, []string) {
	tb.Helper()
	root, err := wbxml.Decode(b)
	if err != nil {
		tb.Fatalf("decode block body % X: %v", b, err)
	}
	path := []string{root.Name()}
	n := root
	for {
		var next *wbxml.Node
		for _, c := range n.Children {
			if c.Kind == wbxml.ElementNode {
				next = c
				break
			}
		}
		if next == nil {
			return n.Value(), path
		}
		path = append(path, next.Name())
		n = next
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and localhost.
func testCert(tb testing.TB, dir, name string, serial int64) (certFile, keyFile string, certDER []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "gateway.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "gateway.test"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile, der
}

func bytesHas(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
