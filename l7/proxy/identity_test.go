package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestEASIdentityFromCredentials: the user of an ActiveSync request is
// the one its credentials name. A claimed User= with credentials that
// name nobody (Negotiate, Bearer, a malformed Basic) or someone else is
// not forwarded as that user: alice's allow list entry, whitelisted
// record and managed status stay hers.
func TestEASIdentityFromCredentials(t *testing.T) {
	aliceQuery := "Cmd=Sync&User=alice&DeviceId=ALICEPHONE1&DeviceType=iPhone"
	tests := []struct {
		name      string
		auth      string // "" sends none
		query     string
		trust     bool // TrustQueryUser
		forwarded bool
		status    int
		reason    device.Reason
		user      string
	}{
		{name: "Basic as alice", auth: "Basic " + b64("alice:pw"), query: aliceQuery, forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "alice"},
		{name: "lower-case basic", auth: "basic " + b64("alice:pw"), query: aliceQuery, forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "alice"},
		{name: "BASIC with two spaces", auth: "BASIC  " + b64("alice:pw"), query: aliceQuery, forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "alice"},
		{name: "Negotiate claims alice", auth: "Negotiate YIIJvwYGKwYBBQUCoIIJszCCCa", query: aliceQuery, status: 200, reason: ReasonUnidentified},
		{name: "Bearer claims alice", auth: "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig", query: aliceQuery, status: 200, reason: ReasonUnidentified},
		{name: "NTLM claims alice", auth: "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", query: aliceQuery, status: 200, reason: ReasonUnidentified},
		{name: "no credentials claim alice", query: aliceQuery, status: 200, reason: ReasonUnidentified},
		{name: "Basic<TAB> claims alice", auth: "Basic\t" + b64("mallory:pw"), query: aliceQuery, status: 400},
		{name: "bare credentials claim alice", auth: b64("mallory:pw"), query: aliceQuery, status: 400},
		{name: "Basic mallory claims alice", auth: "Basic " + b64("mallory:pw"), query: aliceQuery, status: 200, reason: ReasonUserConflict, user: "mallory"},
		{name: "Basic ALICE, User alice", auth: "Basic " + b64("ALICE:pw"), query: aliceQuery, forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "ALICE"},
		{name: `Basic CONTOSO\alice, User alice@contoso.com`, auth: "Basic " + b64(`CONTOSO\alice:pw`),
			query: "Cmd=Sync&User=alice@contoso.com&DeviceId=D9&DeviceType=iPhone", forwarded: true, status: 200, reason: device.ReasonDefaultAllow, user: `CONTOSO\alice`},
		{name: `Basic FABRIKAM\alice, User alice@contoso.com`, auth: "Basic " + b64(`FABRIKAM\alice:pw`),
			query: "Cmd=Sync&User=alice@contoso.com&DeviceId=D9&DeviceType=iPhone", status: 200, reason: ReasonUserConflict},
		{name: "Basic alice, no User (base64 query form)", auth: "Basic " + b64("alice:pw"),
			query: "Cmd=Sync&DeviceId=ALICEPHONE1&DeviceType=iPhone", forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "alice"},
		{name: "trusted query user: Negotiate as alice", auth: "Negotiate YIIJvwYGKwYBBQUCoIIJszCCCa", query: aliceQuery, trust: true,
			forwarded: true, status: 200, reason: device.ReasonOverrideWhitelist, user: "alice"},
		{name: "trusted query user: conflict still refused", auth: "Basic " + b64("mallory:pw"), query: aliceQuery, trust: true, status: 200, reason: ReasonUserConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := mustPolicy(t, device.Config{ManagedOnly: true, BlockedUsers: []string{"mallory"}})
			e := newEnv(t, pol, func(c *Config, _ *device.StoreOptions) { c.TrustQueryUser = tc.trust })
			mustUpsert(t, e.store, device.Record{DeviceID: "ALICEPHONE1", User: "alice", Managed: true, Override: device.OverrideWhitelist})
			if tc.reason == device.ReasonDefaultAllow {
				e.store.SetPolicy(mustPolicy(t, device.Config{}))
			}
			req := e.easRequest(t, easReq{query: tc.query})
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			got := do(t, req)
			if got.Status != tc.status {
				t.Fatalf("status %d, want %d", got.Status, tc.status)
			}
			if n := len(e.mail.requests()); (n == 1) != tc.forwarded {
				t.Fatalf("mail server got %d requests, want forwarded=%v", n, tc.forwarded)
			}
			rec := e.logs.waitFor(t, MsgTransaction, nil)
			if tc.reason != "" && rec.Attrs["reason"] != string(tc.reason) {
				t.Errorf("reason %v, want %s (%v)", rec.Attrs["reason"], tc.reason, rec.Attrs)
			}
			if tc.user != "" && rec.Attrs["user"] != tc.user {
				t.Errorf("logged user %v, want %s", rec.Attrs["user"], tc.user)
			}
			if !tc.forwarded && tc.status == 200 {
				if code, _ := decodeStatus(t, got.Body); code != "129" {
					t.Errorf("EAS status %s, want 129", code)
				}
			}
		})
	}
}

// TestEASOptionsForwardedBare: OPTIONS is not decided on, so it reaches
// the mail server without the query and body a client put on it.
func TestEASOptionsForwardedBare(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	mustUpsert(t, e.store, device.Record{DeviceID: "BLOCKED1", User: "jane", Override: device.OverrideBlacklist})
	req, _ := http.NewRequest(http.MethodOptions, e.front.URL+pathEAS+"?Cmd=Sync&User=jane&DeviceId=BLOCKED1&DeviceType=iPhone",
		strings.NewReader("\x03\x01\x6a\x00sync body"))
	req.Header.Set("Content-Type", WBXMLContentType)
	req.SetBasicAuth("jane", "pw")
	got := do(t, req)
	if got.Status != 200 || got.Header.Get("MS-ASProtocolVersions") == "" {
		t.Fatalf("OPTIONS: %d %v", got.Status, got.Header)
	}
	reqs := e.mail.requests()
	if len(reqs) != 1 {
		t.Fatalf("mail server got %d requests", len(reqs))
	}
	up := reqs[0]
	if up.Method != http.MethodOptions || up.RawQuery != "" || len(up.Body) != 0 || up.Header.Get("Content-Type") != "" {
		t.Errorf("mail server saw %s ?%q body %q Content-Type %q; want OPTIONS with no query and no body",
			up.Method, up.RawQuery, up.Body, up.Header.Get("Content-Type"))
	}
	if up.Header.Get("Authorization") == "" {
		t.Error("credentials dropped: the mail server may require them on OPTIONS")
	}
}

// testCA is a certificate authority for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(tb testing.TB, name string) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(tb.TempDir(), name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// upnSAN is a subjectAltName extension holding one UPN otherName.
func upnSAN(tb testing.TB, upn string) pkix.Extension {
	tb.Helper()
	must := func(b []byte, err error) []byte {
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	str := must(asn1.MarshalWithParams(upn, "utf8"))
	val := must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: str}))
	oid := must(asn1.Marshal(oidUPN))
	other := must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(oid, val...)}))
	san := must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: other}))
	return pkix.Extension{Id: oidSubjectAltName, Value: san}
}

// issue returns a client certificate signed by ca with subject CN cn and,
// when upn is set, a UPN subjectAltName.
func (ca *testCA) issue(tb testing.TB, cn, upn string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if upn != "" {
		tmpl.ExtraExtensions = []pkix.Extension{upnSAN(tb, upn)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertIdentity: with ClientCAFile, a verified client
// certificate names the user (UPN subjectAltName or subject CN, as
// configured), a claimed User= must agree with it, and a certificate the
// authorities did not sign fails the handshake.
func TestClientCertIdentity(t *testing.T) {
	ca := newTestCA(t, "users-ca")
	rogue := newTestCA(t, "rogue-ca")
	upnCert := ca.issue(t, "Alice Example", "alice@contoso.com")
	cnCert := ca.issue(t, `CONTOSO\alice`, "")
	tests := []struct {
		name      string
		mode      string
		user      string // ClientCertUser
		cert      *tls.Certificate
		auth      string
		query     string
		handshake bool // false: the TLS handshake must fail
		forwarded bool
		reason    device.Reason
		logUser   string
	}{
		{name: "UPN SAN", cert: &upnCert, query: "User=alice@contoso.com", handshake: true, forwarded: true, reason: device.ReasonDefaultAllow, logUser: "alice@contoso.com"},
		{name: "UPN SAN, no User in the query", cert: &upnCert, handshake: true, forwarded: true, reason: device.ReasonDefaultAllow, logUser: "alice@contoso.com"},
		{name: "UPN SAN, User claims bob", cert: &upnCert, query: "User=bob@contoso.com", handshake: true, reason: ReasonUserConflict},
		{name: "UPN SAN, Basic as bob", cert: &upnCert, auth: "Basic " + b64("bob:pw"), handshake: true, reason: ReasonUserConflict},
		{name: "subject CN", user: CertUserCN, cert: &cnCert, query: "User=alice@contoso.com", handshake: true, forwarded: true, reason: device.ReasonDefaultAllow, logUser: `CONTOSO\alice`},
		{name: "UPN or CN falls back to CN", user: CertUserUPNOrCN, cert: &cnCert, handshake: true, forwarded: true, reason: device.ReasonDefaultAllow, logUser: `CONTOSO\alice`},
		{name: "certificate without UPN, UPN configured", cert: &cnCert, query: "User=alice@contoso.com", handshake: true, reason: ReasonUnidentified},
		{name: "no certificate, Basic still works", auth: "Basic " + b64("alice:pw"), query: "User=alice", handshake: true, forwarded: true, reason: device.ReasonDefaultAllow, logUser: "alice"},
		{name: "no certificate, claimed user only", query: "User=alice@contoso.com", handshake: true, reason: ReasonUnidentified},
		{name: "untrusted certificate", cert: certPtr(rogue.issue(t, "x", "alice@contoso.com")), query: "User=alice@contoso.com"},
		{name: "required, none given", mode: ClientCertRequire, auth: "Basic " + b64("alice:pw"), query: "User=alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, func(c *Config) {
				c.ClientCAFile, c.ClientCertMode, c.ClientCertUser = ca.file, tc.mode, tc.user
			})
			pem, err := os.ReadFile(s.proxy.cfg.CertFile)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
			tlsCfg := &tls.Config{RootCAs: roots}
			if tc.cert != nil {
				// Sent whatever authorities the gateway asks for (Go's
				// client would keep back a certificate it knows they did
				// not sign; an attacker's would not).
				tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc.cert, nil }
			}
			tr := &http.Transport{TLSClientConfig: tlsCfg}
			t.Cleanup(tr.CloseIdleConnections)
			q := "Cmd=Sync&DeviceId=D1&DeviceType=iPhone"
			if tc.query != "" {
				q += "&" + tc.query
			}
			req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+pathEAS+"?"+q, nil)
			req.Header.Set("MS-ASProtocolVersion", "14.1")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if !tc.handshake {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request served (%d) without a trusted client certificate", resp.StatusCode)
				}
				if n := len(s.mail.requests()); n != 0 {
					t.Fatalf("mail server got %d requests", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := len(s.mail.requests()); (n == 1) != tc.forwarded {
				t.Fatalf("mail server got %d requests, want forwarded=%v", n, tc.forwarded)
			}
			rec := s.logs.waitFor(t, MsgTransaction, nil)
			if rec.Attrs["reason"] != string(tc.reason) {
				t.Errorf("reason %v, want %s (%v)", rec.Attrs["reason"], tc.reason, rec.Attrs)
			}
			if tc.logUser != "" && rec.Attrs["user"] != tc.logUser {
				t.Errorf("logged user %v, want %s", rec.Attrs["user"], tc.logUser)
			}
		})
	}
}

// TestClientCertConfig: client certificate settings are checked.
func TestClientCertConfig(t *testing.T) {
	ca := newTestCA(t, "users-ca")
	for _, tc := range []struct {
		name, field string
		mod         func(*Config)
	}{
		{"mode without CA", "client_ca_file", func(c *Config) { c.ClientCertMode = ClientCertRequire }},
		{"CA with mode off", "client_cert_mode", func(c *Config) { c.ClientCAFile, c.ClientCertMode = ca.file, ClientCertOff }},
		{"unknown mode", "client_cert_mode", func(c *Config) { c.ClientCAFile, c.ClientCertMode = ca.file, "maybe" }},
		{"unknown user source", "client_cert_user", func(c *Config) { c.ClientCAFile, c.ClientCertUser = ca.file, "email" }},
		{"CA with plain HTTP", "client_ca_file", func(c *Config) { c.ClientCAFile, c.PlainHTTP, c.CertFile, c.KeyFile = ca.file, true, "", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Upstream: "https://mail.internal", CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}
			tc.mod(&cfg)
			_, err := New(cfg, Deps{Store: device.NewStore(device.StoreOptions{})})
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("New: %v, want a %s error", err, tc.field)
			}
		})
	}
}

func certPtr(c tls.Certificate) *tls.Certificate { return &c }
