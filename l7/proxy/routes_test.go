package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

func basicReq(tb testing.TB, method, url, user, body string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, "secret")
	}
	return req
}

// TestEWSUserRule checks the EWS rule: the request decided on as one from
// a device the gateway does not know (user and mail client lists,
// ManagedOnly, device type lists, default access), then at least one
// device of the user allowed by its record.
func TestEWSUserRule(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	good := device.Record{DeviceID: "IPHONE1", User: "jane", Managed: true, LastCheckIn: now, EASProfile: true}
	tests := []struct {
		name    string
		policy  *device.Config
		records []device.Record
		user    string // "" sends no credentials
		auth    string // overrides Authorization
		ua      string
		status  int
		reason  device.Reason
	}{
		{name: "no credentials: challenged here", policy: &device.Config{}, status: 401},
		{name: "malformed Basic credentials", policy: &device.Config{}, auth: "Basic !!!", status: 400},
		{name: "Basic with a tab", policy: &device.Config{}, auth: "Basic\tamFuZTp4", status: 400},
		{name: "bearer token names no user", policy: &device.Config{}, auth: "Bearer eyJ0eXAi", status: 403, reason: ReasonEWSUnidentified},
		{name: "negotiate names no user", policy: &device.Config{}, auth: "Negotiate YIIJ", status: 403, reason: ReasonEWSUnidentified},
		{name: "lower-case basic", policy: &device.Config{}, auth: "basic amFuZTp4", status: 200, reason: device.ReasonDefaultAllow},
		{name: "user with an allowed device", policy: &device.Config{RequireEASProfile: true},
			records: []device.Record{good}, user: "jane", status: 200, reason: device.ReasonDefaultAllow},
		{name: "managed only: EWS has no managed device", policy: &device.Config{ManagedOnly: true},
			records: []device.Record{good}, user: "jane", status: 403, reason: device.ReasonUnmanaged},
		{name: "user on the block list", policy: &device.Config{BlockedUsers: []string{"jane"}},
			records: []device.Record{good}, user: "jane", status: 403, reason: device.ReasonUserBlocked},
		{name: "user not on the allow list", policy: &device.Config{AllowedUsers: []string{"bob"}},
			user: "jane", status: 403, reason: device.ReasonUserNotAllowed},
		{name: "blocked mail client", policy: &device.Config{BlockedMailClients: []string{"EvilMail"}},
			records: []device.Record{good}, user: "jane", ua: "EvilMail/2.0", status: 403, reason: device.ReasonMailClientBlocked},
		{name: "mail client not allowed", policy: &device.Config{AllowedMailClients: []string{"Outlook*"}},
			records: []device.Record{good}, user: "jane", ua: "EvilMail/2.0", status: 403, reason: device.ReasonMailClientNotAllowed},
		{name: "allowed mail client", policy: &device.Config{AllowedMailClients: []string{"Outlook*"}},
			records: []device.Record{good}, user: "jane", ua: "Outlook-iOS/2.0", status: 200, reason: device.ReasonDefaultAllow},
		{name: "device type allow list: EWS has no device type", policy: &device.Config{AllowedDeviceTypes: []string{"iPhone"}},
			records: []device.Record{good}, user: "jane", status: 403, reason: device.ReasonDeviceTypeNotAllowed},
		{name: "only device blacklisted", policy: &device.Config{},
			records: []device.Record{{DeviceID: "IPHONE1", User: "jane", Override: device.OverrideBlacklist}},
			user:    "jane", status: 403, reason: ReasonEWSNoAllowedDevice},
		{name: "one of two devices allowed", policy: &device.Config{BlockCompromised: true},
			records: []device.Record{
				{DeviceID: "OLD", User: "jane", Managed: true, Compromised: device.Yes},
				{DeviceID: "NEW", User: "jane", Managed: true},
			},
			user: "jane", status: 200, reason: device.ReasonDefaultAllow},
		{name: "no record, unmanaged allowed", policy: &device.Config{}, user: "jane", status: 200, reason: device.ReasonDefaultAllow},
		{name: "default block", policy: &device.Config{DefaultAccess: device.Block}, records: []device.Record{good}, user: "jane", status: 403, reason: device.ReasonDefaultBlock},
		{name: "test mode", policy: &device.Config{ManagedOnly: true, TestMode: true}, user: "jane", status: 200, reason: device.ReasonUnmanaged},
		{name: "no policy", policy: nil, user: "jane", status: 503, reason: device.ReasonNoPolicyFailClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pol *device.Policy
			if tc.policy != nil {
				pol = mustPolicy(t, *tc.policy)
			}
			e := newEnv(t, pol, ewsOn)
			e.clock.Set(now)
			mustUpsert(t, e.store, tc.records...)
			req := basicReq(t, http.MethodPost, e.front.URL+"/EWS/Exchange.asmx", tc.user, "<soap/>")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ua != "" {
				req.Header.Set("User-Agent", tc.ua)
			}
			got := do(t, req)
			if got.Status != tc.status {
				t.Fatalf("status %d, want %d (%s)", got.Status, tc.status, got.Body)
			}
			forwarded := len(e.mail.requests()) == 1
			if forwarded != (tc.status == 200) {
				t.Errorf("forwarded=%v with status %d", forwarded, tc.status)
			}
			if tc.status == 401 && !strings.HasPrefix(got.Header.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("WWW-Authenticate %q", got.Header.Get("WWW-Authenticate"))
			}
			if tc.status == 503 && got.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			rec := e.logs.waitFor(t, MsgTransaction, nil)
			if tc.reason != "" && rec.Attrs["reason"] != string(tc.reason) {
				t.Errorf("reason %v, want %s", rec.Attrs["reason"], tc.reason)
			}
			if rec.Attrs["route"] != "ews" {
				t.Errorf("route %v", rec.Attrs["route"])
			}
		})
	}
}

// TestRoutes: every route reaches the mail server or not as configured,
// matching paths without regard to case, and anything else is 404.
func TestRoutes(t *testing.T) {
	webmailOn := func(c *Config, _ *device.StoreOptions) { c.Webmail.Enabled = true }
	tests := []struct {
		name      string
		opts      []envOption
		method    string
		path      string
		status    int
		forwarded bool
	}{
		{name: "autodiscover", method: "POST", path: "/Autodiscover/Autodiscover.xml", status: 200, forwarded: true},
		{name: "autodiscover lower case", method: "POST", path: "/autodiscover/autodiscover.xml", status: 200, forwarded: true},
		{name: "eas lower case", method: "POST", path: "/microsoft-server-activesync?Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone", status: 200, forwarded: true},
		{name: "webmail off by default", method: "GET", path: "/owa/", status: 404},
		{name: "webmail on", opts: []envOption{webmailOn}, method: "GET", path: "/owa/", status: 200, forwarded: true},
		{name: "webmail prefix is a whole segment", opts: []envOption{webmailOn}, method: "GET", path: "/owa2/", status: 404},
		{name: "ecp not a default prefix", opts: []envOption{webmailOn}, method: "GET", path: "/ecp/", status: 404},
		{name: "ecp when configured", opts: []envOption{func(c *Config, _ *device.StoreOptions) {
			c.Webmail = WebmailConfig{Enabled: true, Prefixes: []string{"/owa", "/ecp"}}
		}}, method: "GET", path: "/ecp/", status: 200, forwarded: true},
		{name: "EWS off by default", method: "POST", path: "/EWS/Exchange.asmx", status: 404},
		{name: "EWS off by default, lower case", method: "POST", path: "/ews/exchange.asmx", status: 404},
		{name: "EWS on", opts: []envOption{ewsOn}, method: "POST", path: "/EWS/Exchange.asmx", status: 200, forwarded: true},
		{name: "root", method: "GET", path: "/", status: 404},
		{name: "other", method: "GET", path: "/rpc/rpcproxy.dll", status: 404},
		{name: "dot segments", method: "GET", path: "/EWS/../owa/", status: 400},
		{name: "encoded dot segments", method: "GET", path: "/EWS/%2e%2e/owa/", status: 400},
		{name: "encoded slash", method: "GET", path: "/Autodiscover/..%2fowa", status: 400},
		{name: "backslash", method: "GET", path: `/Autodiscover/..\owa`, status: 400},
		{name: "double encoding", method: "GET", path: "/Autodiscover/%252e%252e/owa", status: 400},
		{name: "double slash", method: "GET", path: "//owa", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mustPolicy(t, device.Config{}), tc.opts...)
			got := rawRequest(t, e.front.Listener.Addr().String(),
				fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Basic amFuZTp4\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody", tc.method, tc.path))
			if got.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", got.StatusCode, tc.status)
			}
			if n := len(e.mail.requests()); (n == 1) != tc.forwarded {
				t.Fatalf("mail server got %d requests, want forwarded=%v", n, tc.forwarded)
			}
		})
	}
}

// rawRequest writes a request verbatim (no client-side path cleaning or
// header handling) and reads the response.
func rawRequest(tb testing.TB, addr, raw string) *http.Response {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// TestHopByHop: hop-by-hop headers (RFC 9110 section 7.6.1), including
// those a Connection header names, stop at the gateway both ways; the
// client's X-Forwarded-For is replaced by the gateway's.
func TestHopByHop(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "internal")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-End-To-End", "kept")
		_, _ = io.WriteString(w, "ok")
		return true
	})
	resp := rawRequest(t, e.front.Listener.Addr().String(), "POST "+pathEAS+"?Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone HTTP/1.1\r\n"+
		"Host: gw.test\r\n"+
		"Connection: keep-alive, X-Custom-Hop\r\n"+
		"X-Custom-Hop: secret\r\n"+
		"Keep-Alive: 300\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Proxy-Authorization: Basic c2VjcmV0\r\n"+
		"TE: gzip\r\n"+
		"X-Forwarded-For: 203.0.113.66\r\n"+
		"Forwarded: for=203.0.113.66\r\n"+
		"X-Request-Kept: yes\r\n"+
		"Authorization: Basic amFuZTp4\r\n"+
		"MS-ASProtocolVersion: 14.1\r\n"+
		"Content-Length: 0\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	up := e.mail.requests()[0].Header
	for _, h := range []string{"X-Custom-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Forwarded"} {
		if v := up.Get(h); v != "" {
			t.Errorf("mail server got %s: %q", h, v)
		}
	}
	if up.Get("X-Request-Kept") != "yes" {
		t.Error("an end-to-end request header was dropped")
	}
	if got := up.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want 127.0.0.1 (the client's own value dropped)", got)
	}
	for _, h := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("client got %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-End-To-End") != "kept" {
		t.Error("an end-to-end response header was dropped")
	}
}

// TestTrustedProxies: behind a trusted front proxy the client address is
// the forwarded one, for policy, discovery, logs and the mail server.
func TestTrustedProxies(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	req := e.easRequest(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"})
	req.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.1.1.1")
	if got := do(t, req); got.Status != 200 {
		t.Fatalf("status %d", got.Status)
	}
	d, ok := e.store.LookupDiscovered("D1")
	if !ok || d.SourceIP != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("discovered source %v, want 203.0.113.9", d.SourceIP)
	}
	if got := e.mail.requests()[0].Header.Get("X-Forwarded-For"); got != "198.51.100.1, 203.0.113.9, 10.1.1.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if rec := e.logs.waitFor(t, MsgTransaction, nil); rec.Attrs["src"] != "203.0.113.9" {
		t.Errorf("logged src %v", rec.Attrs["src"])
	}
}
