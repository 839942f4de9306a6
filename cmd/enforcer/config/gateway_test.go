package config

import (
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/proxy"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/classify"
	"github.com/mailgate/enforcer/l7/transform/links"
)

// gatewayYAML sets every field of the L7 sections.
const gatewayYAML = `
interfaces: [eth0]
admin: {listen: "[::1]:9800", hosts: ["localhost:8080"]}
proxy:
  listen: 0.0.0.0:8443
  upstream: https://mail.internal/base
  upstream_allow: [192.0.2.7, {cidr: 10.1.0.0/16, comment: monitoring}]
  upstream_ca_file: /etc/enforcer/mail-ca.pem
  insecure_skip_verify: true
  cert_file: /etc/enforcer/tls.crt
  key_file: /etc/enforcer/tls.key
  max_conns: 20000
  max_conns_per_source: 1000
  http2_max_streams: 200
  max_upstream_conns: 0
  min_body_rate: 2048
  body_rate_window: 20s
  body_timeout: 0s
  trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
  redirect_hosts: [outlook.office365.com]
  ews: true
  trust_query_user: true
  client_ca_file: /etc/enforcer/client-ca.pem
  client_cert_mode: require
  client_cert_user: upn_or_cn
  webmail: true
  webmail_prefixes: [/owa, /mail]
devices:
  allow_mail_if_no_policy: true
  max_discovered: 5000
  push: {listen: ":8444", token_file: /etc/enforcer/push.token}
  pull: {url: "https://mdm.example/enforcer/delta?tenant=7", interval: 5m, token_file: /etc/enforcer/pull.token, ca_file: /etc/enforcer/mdm-ca.pem}
  policy:
    revision: r42
    managed_only: true
    allowed_mail_clients: ["Outlook-iOS*"]
    blocked_mail_clients: [TouchDown*]
    allowed_users: ["*@example.com"]
    blocked_users: ['CONTOSO\mallory']
    allowed_device_types: [iPhone, Android]
    blocked_device_types: [WindowsMail]
    inactivity_days: 30
    block_compromised: true
    block_unencrypted: true
    allowed_models: [{platform: Apple, model: "iPhone*"}]
    allowed_os: [{platform: Apple, min: "17", max: "18.9"}, {platform: Android, min: "13"}]
    require_eas_profile: true
    rules:
      - {name: no-old-android, characteristic: DeviceOS, query: "Android 9*", access: block}
      - {characteristic: DeviceType, query: "Android*", access: quarantine}
    default_access: allow
    test_mode: true
`

func TestGatewaySections(t *testing.T) {
	c := mustParse(t, gatewayYAML)
	wantProxy := Proxy{
		Enabled: true, ProtectUpstream: true,
		UpstreamAllow: []Entry{{Prefix: netip.MustParsePrefix("192.0.2.7/32")}, {Prefix: netip.MustParsePrefix("10.1.0.0/16"), Comment: "monitoring"}},
		Config: proxy.Config{
			Listen: "0.0.0.0:8443", Upstream: "https://mail.internal/base",
			UpstreamCAFile: "/etc/enforcer/mail-ca.pem", InsecureSkipVerify: true,
			CertFile: "/etc/enforcer/tls.crt", KeyFile: "/etc/enforcer/tls.key", MaxConns: 20000,
			MaxConnsPerSource: 1000, HTTP2MaxStreams: 200, MaxUpstreamConns: -1,
			MinBodyRate: 2048, BodyRateWindow: 20 * time.Second, BodyTimeout: -1,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
			RedirectHosts:  []string{"outlook.office365.com"},
			EWS:            proxy.EWSConfig{Enabled: true}, TrustQueryUser: true,
			ClientCAFile: "/etc/enforcer/client-ca.pem", ClientCertMode: "require", ClientCertUser: "upn_or_cn",
			Webmail: proxy.WebmailConfig{Enabled: true, Prefixes: []string{"/owa", "/mail"}},
		},
	}
	if diff := cmp.Diff(wantProxy, c.Proxy, cmpOpts); diff != "" {
		t.Errorf("proxy (-want +got):\n%s", diff)
	}
	wantDevices := Devices{
		AllowMailIfNoPolicy: true, MaxDiscovered: 5000,
		Push: DevicePush{Listen: ":8444", TokenFile: "/etc/enforcer/push.token"},
		Pull: DevicePull{URL: "https://mdm.example/enforcer/delta?tenant=7", Interval: 5 * time.Minute,
			TokenFile: "/etc/enforcer/pull.token", CAFile: "/etc/enforcer/mdm-ca.pem"},
		Policy: &device.Config{
			Revision: "r42", ManagedOnly: true,
			AllowedMailClients: []string{"Outlook-iOS*"}, BlockedMailClients: []string{"TouchDown*"},
			AllowedUsers: []string{"*@example.com"}, BlockedUsers: []string{`CONTOSO\mallory`},
			AllowedDeviceTypes: []string{"iPhone", "Android"}, BlockedDeviceTypes: []string{"WindowsMail"},
			InactivityDays: 30, BlockCompromised: true, BlockUnencrypted: true,
			AllowedModels:     []device.ModelRule{{Platform: "Apple", Model: "iPhone*"}},
			AllowedOS:         []device.OSRule{{Platform: "Apple", Min: "17", Max: "18.9"}, {Platform: "Android", Min: "13"}},
			RequireEASProfile: true,
			Rules: []device.ABQRule{
				{Name: "no-old-android", Characteristic: device.DeviceOS, Query: "Android 9*", Access: device.Block},
				{Characteristic: device.DeviceType, Query: "Android*", Access: device.Quarantine},
			},
			DefaultAccess: device.Allow, TestMode: true,
		},
	}
	if diff := cmp.Diff(wantDevices, c.Devices, cmpOpts); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if c.Admin.Listen != "[::1]:9800" {
		t.Errorf("admin.listen = %q", c.Admin.Listen)
	}
	if _, err := device.NewPolicy(*c.Devices.Policy); err != nil {
		t.Errorf("the parsed policy does not compile: %v", err)
	}
}

func TestGatewayDefaults(t *testing.T) {
	c := mustParse(t, "interfaces: [eth0]\nproxy: {upstream: https://mail.internal, plain_http: true}\n")
	want := Proxy{Enabled: true, ProtectUpstream: true, Config: proxy.Config{Listen: ":443", Upstream: "https://mail.internal", PlainHTTP: true}}
	if diff := cmp.Diff(want, c.Proxy, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c.Devices.Policy != nil || c.Devices.AllowMailIfNoPolicy || c.Devices.Pull.Interval != 10*time.Minute {
		t.Errorf("devices defaults: %+v", c.Devices)
	}
	off := mustParse(t, "interfaces: [eth0]\nproxy: {enabled: false, upstream: https://x}\n")
	if off.Proxy.Enabled || off.Proxy.Upstream != "" {
		t.Errorf("a disabled proxy section: %+v", off.Proxy)
	}
}

func TestGatewayProblems(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"upstream missing", "proxy: {plain_http: true}", "proxy.upstream: required"},
		{"upstream not a URL", "proxy: {upstream: mail.internal, plain_http: true}", `proxy.upstream: "mail.internal" is not an http(s) URL`},
		{"upstream credentials", "proxy: {upstream: \"https://u:p@mail\", plain_http: true}", "carries credentials"},
		{"no certificate", "proxy: {upstream: https://mail}", "proxy.cert_file: cert_file and key_file are required"},
		{"cert and plain", "proxy: {upstream: https://mail, plain_http: true, cert_file: /a, key_file: /b}", "proxy.plain_http: true together with cert_file"},
		{"relative cert", "proxy: {upstream: https://mail, cert_file: tls.crt, key_file: /b}", "proxy.cert_file: \"tls.crt\" is not an absolute path"},
		{"listen", "proxy: {upstream: https://mail, plain_http: true, listen: 443}", `proxy.listen: "443" is not host:port`},
		{"unknown proxy field", "proxy: {upstream: https://mail, plain_http: true, upstrem_ca: /x}", "proxy.upstrem_ca: unknown field"},
		{"webmail prefix", "proxy: {upstream: https://mail, plain_http: true, webmail: true, webmail_prefixes: [owa]}", "proxy.webmail_prefixes[0]: \"owa\": want a path"},
		{"prefixes without webmail", "proxy: {upstream: https://mail, plain_http: true, webmail_prefixes: [/owa]}", "set but webmail is false"},
		{"client cert mode", "proxy: {upstream: https://mail, plain_http: true, client_cert_mode: verify}", `proxy.client_cert_mode: "verify" is not a client certificate mode`},
		{"client cert user", "proxy: {upstream: https://mail, plain_http: true, client_cert_user: email}", `proxy.client_cert_user: "email" is not a certificate user source`},
		{"client cert without CA", "proxy: {upstream: https://mail, cert_file: /a, key_file: /b, client_cert_mode: require}", "proxy.client_ca_file: required with client_cert_mode: require"},
		{"client CA with mode off", "proxy: {upstream: https://mail, cert_file: /a, key_file: /b, client_ca_file: /c, client_cert_mode: \"off\"}", "proxy.client_cert_mode: off with client_ca_file set"},
		{"client CA with plain HTTP", "proxy: {upstream: https://mail, plain_http: true, client_ca_file: /c}", "proxy.client_ca_file: set with plain_http"},
		{"per-source limit", "proxy: {upstream: https://mail, plain_http: true, max_conns_per_source: -1}", "proxy.max_conns_per_source: -1 is out of range 0..10000000"},
		{"streams", "proxy: {upstream: https://mail, plain_http: true, http2_max_streams: 0}", "proxy.http2_max_streams: 0 is out of range 1..100000"},
		{"body rate window", "proxy: {upstream: https://mail, plain_http: true, body_rate_window: 0s}", "proxy.body_rate_window: \"0s\" is out of range 1s..1h"},
		{"body timeout", "proxy: {upstream: https://mail, plain_http: true, body_timeout: 500ms}", "proxy.body_timeout: \"500ms\" is out of range 1s..24h; write \"0s\" for no deadline"},
		{"admin not loopback", "admin: {listen: \"0.0.0.0:9741\"}", "admin.listen: \"0.0.0.0:9741\": the admin page"},
		{"push without token", "devices: {push: {listen: \":8444\", plain_http: true}}", "devices.push.token_file: required with listen"},
		{"push without cert", "devices: {push: {listen: \":8444\", token_file: /t}}", "devices.push.cert_file: the push API needs a certificate"},
		{"push plain off loopback", "devices: {push: {listen: \":8444\", token_file: /t, plain_http: true}}", "devices.push.plain_http: true on \":8444\", which is not a loopback address"},
		{"push plain on an address", "devices: {push: {listen: \"192.0.2.10:8444\", token_file: /t, plain_http: true}}", "allow_plain_http_off_loopback: true"},
		{"push plain on a name", "devices: {push: {listen: \"localhost:8444\", token_file: /t, plain_http: true}}", "devices.push.plain_http: true on"},
		{"admin host", "admin: {hosts: [\"http://localhost:8080\"]}", "admin.hosts[0]: \"http://localhost:8080\" is not a Host header value"},
		{"admin host port", "admin: {hosts: [\"localhost:99999\"]}", "admin.hosts[0]:"},
		{"pull url", "devices: {pull: {url: \"ftp://x\"}}", "devices.pull.url: \"ftp://x\" is not an http(s) URL"},
		{"pull interval", "devices: {pull: {url: \"https://x\", interval: 1s}}", "devices.pull.interval: \"1s\" is out of range"},
		{"pull interval text", "devices: {pull: {interval: soon}}", "devices.pull.interval: \"soon\" is not a duration"},
		{"inactivity range", "devices: {policy: {inactivity_days: 40000}}", "devices.policy.inactivity_days: 40000 is out of range 0..32767"},
		{"access", "devices: {policy: {default_access: deny}}", `devices.policy.default_access: "deny" is not an access level`},
		{"rule field", "devices: {policy: {rules: [{characteristic: DeviceType, query: x}]}}", "devices.policy.rules[0].access: required"},
		{"characteristic", "devices: {policy: {rules: [{characteristic: Model, query: x, access: block}]}}", `"Model" is not a characteristic`},
		{"policy field", "devices: {policy: {manged_only: true}}", `devices.policy.manged_only: unknown field; did you mean "managed_only"?`},
		{"bad OS version", "devices: {policy: {allowed_os: [{platform: Apple, min: \"x.y\"}]}}", "devices.policy:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("enforcer.yaml", []byte("interfaces: [eth0]\n"+tc.in+"\n"))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.in)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got:\n%v\nwant it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "enforcer.yaml:2:") {
				t.Errorf("no line 2 in:\n%v", err)
			}
		})
	}
}

const transformsYAML = `
interfaces: [eth0]
transforms:
  smime_pass_through: false
  links: {mode: exclude, http_scheme: mibrowser, https_scheme: mibrowsers, domains: [intranet.example], unmanaged: true}
  attachments:
    managed:
      default: allow
      rules:
        - {extensions: [exe, js], action: block}
        - {extensions: [pdf], content_types: ["application/pdf"], action: encrypt}
    unmanaged: {default: block}
    blocked_notice: Removed by policy.
    key_file: /var/lib/enforcer/attachment.key
  classification:
    subject_markers: ["[SECRET]"]
    headers: [X-Classification]
    template: "Blocked: {{.Tag}}"
    rules: [{tag: SECRET, approved_clients: ["Outlook-iOS*"], others: block}]
`

func TestTransformsSection(t *testing.T) {
	c := mustParse(t, transformsYAML)
	want := transform.Config{
		Enabled: true,
		Links: &transform.LinkRules{Config: links.Config{Mode: links.Exclude, HTTPScheme: "mibrowser", HTTPSScheme: "mibrowsers", Domains: []string{"intranet.example"}},
			Unmanaged: true},
		Attachments: &transform.AttachmentRules{
			Policy: attach.Policy{
				Managed: attach.RuleSet{Default: attach.Allow, Rules: []attach.Rule{
					{Extensions: []string{"exe", "js"}, Action: attach.Block},
					{Extensions: []string{"pdf"}, ContentTypes: []string{"application/pdf"}, Action: attach.Encrypt}}},
				Unmanaged:     attach.RuleSet{Default: attach.Block},
				BlockedNotice: "Removed by policy.",
			},
			KeyFile: "/var/lib/enforcer/attachment.key",
		},
		Classification: &classify.Config{SubjectMarkers: []string{"[SECRET]"}, Headers: []string{"X-Classification"}, Template: "Blocked: {{.Tag}}",
			Rules: []classify.Rule{{Tag: "SECRET", ApprovedClients: []string{"Outlook-iOS*"}, Approved: classify.Allow, Others: classify.Block}}},
	}
	if diff := cmp.Diff(want, c.Transforms, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(out))
	if diff := cmp.Diff(c.Transforms, back.Transforms, cmpOpts); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ in, want string }{
		{"transforms: {links: {mode: all}}", "transforms.links.http_scheme: required"},
		{"transforms: {links: {mode: include, http_scheme: a, https_scheme: b}}", "transforms.links.domains: mode include"},
		{"transforms: {attachments: {managed: {default: quarantine}}}", `"quarantine" is not an attachment action`},
		{"transforms: {attachments: {managed: {rules: [{action: block}]}}}", "matches nothing"},
		{"transforms: {classification: {rules: [{others: block}]}}", "transforms.classification.rules[0].tag: required"},
	} {
		_, err := Parse("enforcer.yaml", []byte("interfaces: [eth0]\n"+tc.in+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "enforcer.yaml:2:") {
			t.Errorf("%s: %v, want %q at line 2", tc.in, err, tc.want)
		}
	}
}

// TestPushPlainHTTPLoopback: plain HTTP is fine on loopback, and off it
// only when forced.
func TestPushPlainHTTPLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:8444", "[::1]:8444"} {
		c := mustParse(t, "interfaces: [eth0]\ndevices: {push: {listen: \""+listen+"\", token_file: /t, plain_http: true}}\n")
		if !c.Devices.Push.PlainHTTP {
			t.Errorf("%s: plain_http lost", listen)
		}
	}
	c := mustParse(t, "interfaces: [eth0]\ndevices: {push: {listen: \":8444\", token_file: /t, plain_http: true, allow_plain_http_off_loopback: true}}\n")
	if !c.Devices.Push.AllowPlainHTTPOffLoopback {
		t.Error("allow_plain_http_off_loopback lost")
	}
}

func TestAdminHosts(t *testing.T) {
	c := mustParse(t, "interfaces: [eth0]\nadmin: {hosts: [\"LocalHost:8080\", gw-admin.internal, \"[::1]:8080\", 192.0.2.1]}\n")
	want := []string{"localhost:8080", "gw-admin.internal", "[::1]:8080", "192.0.2.1"}
	if diff := cmp.Diff(want, c.Admin.Hosts); diff != "" {
		t.Errorf("admin.hosts (-want +got):\n%s", diff)
	}
}

// TestParseRemoteTransforms: a document from device management may not
// name files; the same document from the config file may.
func TestParseRemoteTransforms(t *testing.T) {
	for _, tc := range []struct{ name, doc, field string }{
		{"domains_file", `{"links": {"http_scheme": "a", "https_scheme": "b", "mode": "include", "domains_file": "/etc/shadow"}}`, "transforms.links.domains_file: a document from device management may not name files"},
		{"key_file", `{"attachments": {"key_file": "/var/lib/x.key"}}`, "transforms.attachments.key_file: a document from device management may not name files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseTransforms("local", []byte(tc.doc)); err != nil {
				t.Fatalf("local document refused: %v", err)
			}
			_, err := ParseRemoteTransforms("push", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "push:1:") {
				t.Fatalf("remote document: %v, want %q", err, tc.field)
			}
			if strings.Contains(err.Error(), "none are listed") {
				t.Errorf("a second, misleading problem: %v", err)
			}
		})
	}
}

func TestParseTransformsJSON(t *testing.T) {
	tr, err := ParseTransforms("push", []byte(`{"links": {"mode": "include", "http_scheme": "mibrowser", "https_scheme": "mibrowsers", "domains": ["intranet.example"]},
 "attachments": {"unmanaged": {"default": "block"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled || tr.Links == nil || tr.Links.Mode != links.Include || tr.Attachments.Unmanaged.Default != attach.Block || !tr.SMIMEPassThrough {
		t.Errorf("%+v", tr)
	}
	_, err = ParseTransforms("push", []byte(`{"links": {"mode": "sometimes"}}`))
	if err == nil || !strings.Contains(err.Error(), `push:1:`) || !strings.Contains(err.Error(), "transforms.links.mode") {
		t.Errorf("error %v", err)
	}
}

// TestDevicePolicyKeys: the device policy is one type; its file keys and
// its wire keys are the same names.
func TestDevicePolicyKeys(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[device.Config](), reflect.TypeFor[device.ModelRule](), reflect.TypeFor[device.OSRule](), reflect.TypeFor[device.ABQRule]()} {
		for f := range typ.Fields() {
			y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if y == "" || y != j {
				t.Errorf("%s.%s: yaml key %q, json key %q; want one name", typ, f.Name, y, j)
			}
		}
	}
}

// TestReferenceDocumentsEveryKey: every key the library option types give
// the file is documented in REFERENCE.md.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	ref, err := os.ReadFile("REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for _, f := range taggedFields(v) {
			// `key` or `a.key` in a table row, or {key, ...} in a list's type.
			if !regexp.MustCompile("[`{ .]" + f.key + "[`,}.]").Match(ref) {
				t.Errorf("%s (%s.%s) is not in REFERENCE.md", f.key, v.Type(), f.sf.Name)
			}
			switch et := f.sf.Type; {
			case et.Kind() == reflect.Struct && et != prefixType:
				walk(f.v)
			case et.Kind() == reflect.Slice && et.Elem().Kind() == reflect.Struct && et.Elem() != prefixType && et != entriesType:
				walk(reflect.New(et.Elem()).Elem())
			case et.Kind() == reflect.Pointer:
				walk(reflect.New(et.Elem()).Elem())
			}
		}
	}
	walk(reflect.ValueOf(Proxy{}))
	walk(reflect.ValueOf(device.Config{}))
	walk(reflect.ValueOf(transform.Config{}))
}

// TestProxyValidatedByLibrary: the proxy section is checked by the
// proxy's own Validate, reported at the key it names; before, a prefix
// the proxy refuses passed the file's checks and failed only when the
// daemon started the proxy.
func TestProxyValidatedByLibrary(t *testing.T) {
	_, err := Parse("enforcer.yaml", []byte("interfaces: [eth0]\nproxy:\n  upstream: https://mail\n  plain_http: true\n  webmail: true\n  webmail_prefixes: [/Microsoft-Server-ActiveSync]\n"))
	want := `enforcer.yaml:6:22: proxy.webmail_prefixes[0]: "/Microsoft-Server-ActiveSync" overlaps the`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	_, err = Parse("enforcer.yaml", []byte("interfaces: [eth0]\nproxy:\n  upstream: \"https://mail/?tenant=1\"\n  plain_http: true\n"))
	want = `enforcer.yaml:3:3: proxy.upstream: "https://mail/?tenant=1": only scheme, host and path are allowed`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
