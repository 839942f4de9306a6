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

	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/policy/device"
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
