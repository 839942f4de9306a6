package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// stubUpstream answers every round trip with 200 and records the requests.
type stubUpstream struct {
	mu  sync.Mutex
	got []*http.Request
}

func (s *stubUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.got = append(s.got, r)
	s.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

func (s *stubUpstream) take() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.got
	s.got = nil
	return g
}

// FuzzHandler sends arbitrary paths, queries and identity headers through
// the handler: it must never panic; a request the EAS parser refuses, or
// whose path is not in normal form, must get 400 and never reach the mail
// server; and what does reach it must carry the query the decision was
// made on and be allowed by that decision.
func FuzzHandler(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	store := device.NewStore(device.StoreOptions{MaxDiscovered: 1000})
	pol, err := device.NewPolicy(device.Config{BlockedDeviceTypes: []string{"Kindle"}, BlockedUsers: []string{"mallory"},
		Rules: []device.ABQRule{{Characteristic: device.UserAgent, Query: "Evil*", Access: device.Quarantine}}})
	if err != nil {
		f.Fatal(err)
	}
	store.SetPolicy(pol)
	if err := store.Upsert(device.Record{DeviceID: "BLACK", Override: device.OverrideBlacklist}); err != nil {
		f.Fatal(err)
	}
	// Metrics on: their labels must map for any request.
	m := NewMetrics()
	p, err := New(Config{Upstream: "https://mail.internal", PlainHTTP: true, Webmail: WebmailConfig{Enabled: true}, EWS: EWSConfig{Enabled: true}},
		Deps{Store: store, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Metrics: m})
	if err != nil {
		f.Fatal(err)
	}
	stub := &stubUpstream{}
	p.rp.Transport = &timeoutTransport{base: stub}

	for _, s := range []struct{ path, query, ua, auth, ver, key string }{
		{pathEAS, "Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone", "Apple-iPhone/1", "", "14.1", ""},
		{pathEAS, "Cmd=Sync&User=jane&DeviceId=BLACK&DeviceType=iPhone", "Apple-iPhone/1", "", "14.1", "0"},
		{pathEAS, "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", "", "Basic amFuZTpzZWNyZXQ=", "", ""},
		{pathEAS, "Cmd=Ping&User=jane&DeviceId=D1&DeviceType=Kindle", "EvilMail/2", "Basic bWFsbG9yeTp4", "16.1", "12345"},
		{pathEAS, "Cmd=Sync&User=jane;DeviceId=X&DeviceId=D1&DeviceType=iPhone", "", "", "14.1", ""},
		{pathEAS, "Cmd=Sync&DeviceId=D1&DeviceType=iPhone&DeviceId=D2", "", "Basic !!", "x", "-1"},
		{"/EWS/Exchange.asmx", "", "", "Basic amFuZTpzZWNyZXQ=", "", ""},
		{"/EWS/../owa", "", "", "", "", ""},
		{"/owa/", "x=%zz", "", "", "", ""},
		{"/autodiscover/autodiscover.xml", "", "", "", "", ""},
	} {
		f.Add(s.path, s.query, s.ua, s.auth, s.ver, s.key)
	}
	f.Fuzz(func(t *testing.T, pth, query, ua, auth, ver, key string) {
		u := &url.URL{Path: pth, RawQuery: query}
		r := (&http.Request{
			Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "gw.test", RemoteAddr: "192.0.2.7:40000", Body: http.NoBody,
		}).WithContext(context.Background())
		for k, v := range map[string]string{"User-Agent": ua, "Authorization": auth, eas.HeaderProtocolVersion: ver, eas.HeaderPolicyKey: key} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		got := stub.take()
		if n := testutil.ToFloat64(m.inFlight); n != 0 {
			t.Fatalf("in_flight_requests %v after the request ended", n)
		}

		sane := saneRequestPath(r)
		rt := p.route(pth)
		if !sane {
			if w.Code != http.StatusBadRequest || len(got) != 0 {
				t.Fatalf("path %q not in normal form: status %d, %d upstream requests", pth, w.Code, len(got))
			}
			return
		}
		if rt == routeNone && (w.Code != http.StatusNotFound || len(got) != 0) {
			t.Fatalf("unrouted path %q: status %d, %d upstream requests", pth, w.Code, len(got))
		}
		if rt != routeEAS {
			return
		}
		req, perr := eas.ParseRequest(r)
		if perr != nil {
			if w.Code != http.StatusBadRequest || len(got) != 0 {
				t.Fatalf("query %q refused by the parser (%v): status %d, %d upstream requests", query, perr, w.Code, len(got))
			}
			return
		}
		// The user is the Basic credentials' (TrustQueryUser off); a
		// query User naming someone else is a conflict.
		id := device.NewIdentity(req, netip.MustParseAddr("192.0.2.7"))
		id.User = req.AuthUser
		identified := req.AuthUser != "" && (req.Query.User == "" || eas.SameUser(req.AuthUser, req.Query.User))
		allowed := identified && device.Decide(id, store.Lookup(id.DeviceID), pol, now).Allowed()
		switch {
		case !allowed && len(got) != 0:
			t.Fatalf("refused request %q reached the mail server", query)
		case allowed && len(got) != 1:
			t.Fatalf("allowed request %q: %d upstream requests (status %d)", query, len(got), w.Code)
		case allowed && got[0].URL.RawQuery != query:
			t.Fatalf("upstream query %q, decided on %q", got[0].URL.RawQuery, query)
		case allowed && got[0].URL.Host != "mail.internal":
			t.Fatalf("upstream host %q", got[0].URL.Host)
		}
	})
}

// FuzzLogAuthScheme: what the log shows of any Authorization value is
// "invalid" or a token of at most eas.MaxAuthSchemeLen characters that the
// value starts with and that ends at a space or the value's end: never
// any part of the credentials after it.
func FuzzLogAuthScheme(f *testing.F) {
	for _, s := range []string{"Basic amFuZTpzZWNyZXQ=", "Basic\tamFuZTpzZWNyZXQ=", "Bearer eyJ0", "Negotiate", "amFuZTpzZWNyZXQ=", "Basic,x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := logAuthScheme([]string{v})
		if got == "invalid" {
			return
		}
		if got == "" || len(got) > eas.MaxAuthSchemeLen || !strings.HasPrefix(v, got) {
			t.Fatalf("logged scheme %q of %q", got, v)
		}
		if rest := v[len(got):]; rest != "" && rest[0] != ' ' {
			t.Fatalf("logged scheme %q of %q does not end at a space", got, v)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
				t.Fatalf("logged scheme %q of %q holds %q", got, v, c)
			}
		}
		h := headerAttr("h", http.Header{"Authorization": {v}})
		if s := h.Value.Group()[0].Value.String(); s != got+" [redacted]" {
			t.Fatalf("header logged as %q", s)
		}
	})
}

// FuzzUPNFromSAN: the subjectAltName reader returns "" or a bounded,
// printable name without ':' for any bytes, and never panics.
func FuzzUPNFromSAN(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Add(upnSAN(f, "alice@contoso.com").Value)
	f.Fuzz(func(t *testing.T, der []byte) {
		u := upnFromSAN(der)
		if u != "" && certName(u) != u {
			t.Fatalf("upnFromSAN returned %q", u)
		}
	})
}

// FuzzEWSOperation: the EWS operation reader never panics, reads at most
// maxEWSPrefix bytes, and names an operation only when it found one.
func FuzzEWSOperation(f *testing.F) {
	f.Add(soapOp("GetItem"))
	f.Add(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`)
	f.Add(`<!DOCTYPE x [<!ENTITY a "b">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&a;</s:Body></s:Envelope>`)
	f.Fuzz(func(t *testing.T, body string) {
		r := strings.NewReader(body)
		op, err := ewsOperation(r)
		if read := int64(len(body)) - int64(r.Len()); read > maxEWSPrefix {
			t.Fatalf("read %d bytes", read)
		}
		if (err == nil) == (op == "") {
			t.Fatalf("op %q, err %v", op, err)
		}
	})
}
