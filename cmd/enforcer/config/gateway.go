package config

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/proxy"
)

// Defaults of the L7 gateway sections.
const (
	DefaultProxyListen   = ":443"
	DefaultAdminListen   = "127.0.0.1:9741"
	DefaultPullInterval  = 10 * time.Minute
	DefaultMaxDiscovered = device.DefaultMaxDiscovered
)

// Proxy configures the L7 ActiveSync gateway `enforcer run` starts in front
// of the mail server. The section absent (or enabled: false) runs the
// datapath only. Its proxy settings are the proxy's own option type,
// proxy.Config: each field's key, file syntax, default and documentation
// live there (l7/proxy/config.go), its cross-field rules in
// proxy.Config.Validate; only what the datapath derives from the section
// is declared here.
type Proxy struct {
	// Enabled starts the proxy. Default true when the section is present.
	Enabled bool `yaml:"enabled" default:"true"`
	// ProtectUpstream makes the datapath drop connections that go around
	// the proxy straight to the mail server: a derived, allowlist-only
	// service (ServiceUpstream) on the upstream's address(es) and port
	// admits only UpstreamAllow (and `enforcer allow add --service
	// upstream`). A host name is resolved at start and on every reload; a
	// loopback upstream has nothing to protect. Default true.
	ProtectUpstream bool `yaml:"protect_upstream" default:"true"`
	// UpstreamAllow lists the sources, besides the gateway itself (whose
	// connections to the mail server leave through it and never meet the
	// XDP program), that may still reach the upstream's address and port
	// directly: other gateways, monitoring, an internal relay. Default
	// empty.
	UpstreamAllow []Entry `yaml:"upstream_allow"`
	// Config is the proxy's configuration, its defaults left to the
	// proxy (a zero limit is the proxy's default).
	proxy.Config `yaml:",inline"`
}

// Devices configures device compliance: where device records and the
// policy come from, and what happens without them.
type Devices struct {
	// AllowMailIfNoPolicy lets every device sync while no policy is
	// loaded. Default false: fail closed (503 with Retry-After).
	AllowMailIfNoPolicy bool
	// MaxDiscovered caps the devices remembered without a record. Default
	// 100,000.
	MaxDiscovered int
	// Policy is a device policy written in the file. When set it is in
	// force, and a policy synced from device management is stored but
	// not used. Default nil: the policy comes from device management (push
	// or pull).
	Policy *device.Config
	// Push is the push API device management calls.
	Push DevicePush
	// Pull is the delta sync the gateway runs against device management.
	Pull DevicePull
}

// DevicePush configures the authenticated push API.
type DevicePush struct {
	// Listen is the host:port of the push API; "" (default) turns it off.
	Listen string
	// TokenFile holds the bearer token device management presents (one
	// line; at least 32 characters). Required with Listen.
	TokenFile string
	// CertFile and KeyFile serve the push API over TLS. Default: the
	// proxy's certificate; required when the proxy has none.
	CertFile string
	KeyFile  string
	// PlainHTTP serves the push API without TLS, which sends the bearer
	// token in clear: on a loopback listen address only (a local
	// device-management agent, or TLS terminated in front), unless
	// AllowPlainHTTPOffLoopback. Default false.
	PlainHTTP bool
	// AllowPlainHTTPOffLoopback lets PlainHTTP serve on an address other
	// than loopback (an isolated management network); the daemon warns
	// at start. Default false.
	AllowPlainHTTPOffLoopback bool
}

// DevicePull configures the delta sync.
type DevicePull struct {
	// URL is device management's delta endpoint; "" (default) turns
	// pulling off.
	URL string
	// Interval between syncs. Default 10 minutes.
	Interval time.Duration
	// TokenFile holds the bearer token sent to URL. Default "": none.
	TokenFile string
	// CAFile is a PEM bundle that signs URL's certificate. Default "": the
	// system roots.
	CAFile string
}

func (p *parser) proxy(n *yaml.Node, field string) (Proxy, bool) {
	px := Proxy{Config: proxy.Config{Listen: DefaultProxyListen}}
	keys, ok := p.decode(n, field, &px)
	if !ok {
		return px, false
	}
	if !px.Enabled {
		// Disabled: the other fields are kept out of the way.
		return Proxy{}, true
	}
	p.libraryProblems(px.Config.Validate(), n, field)
	if keys["upstream_allow"] != nil && !px.ProtectUpstream && len(px.UpstreamAllow) > 0 {
		p.addf(keys["upstream_allow"], join(field, "upstream_allow"), "set but protect_upstream is false, so nothing uses it; set protect_upstream: true or remove upstream_allow")
	}
	if keys["webmail_prefixes"] != nil && !px.Webmail.Enabled {
		p.addf(keys["webmail_prefixes"], join(field, "webmail_prefixes"), "set but webmail is false; set webmail: true or remove the prefixes")
	}
	return px, true
}

func (p *parser) devices(n *yaml.Node, field string) Devices {
	d := Devices{MaxDiscovered: DefaultMaxDiscovered, Pull: DevicePull{Interval: DefaultPullInterval}}
	p.mapping(n, field, []fieldSpec{
		{"allow_mail_if_no_policy", func(v *yaml.Node, f string) { d.AllowMailIfNoPolicy, _ = p.boolean(v, f) }},
		{"max_discovered", func(v *yaml.Node, f string) { d.MaxDiscovered, _ = p.integer(v, f, 0, 10_000_000) }},
		{"policy", func(v *yaml.Node, f string) {
			if isNull(deref(v)) {
				return
			}
			cfg, ok := p.devicePolicy(v, f)
			if !ok {
				return
			}
			if _, err := device.NewPolicy(cfg); err != nil {
				p.addf(deref(v), f, "%v", err)
				return
			}
			d.Policy = &cfg
		}},
		{"push", func(v *yaml.Node, f string) {
			keys, _ := p.mapping(v, f, []fieldSpec{
				{"listen", func(v *yaml.Node, f string) {
					setStr(&d.Push.Listen)(p.hostPort(v, f, true, `:8444, 192.0.2.10:8444, or "" to turn the push API off`))
				}},
				{"token_file", func(v *yaml.Node, f string) { setStr(&d.Push.TokenFile)(p.absPath(v, f, true)) }},
				{"cert_file", func(v *yaml.Node, f string) { setStr(&d.Push.CertFile)(p.absPath(v, f, true)) }},
				{"key_file", func(v *yaml.Node, f string) { setStr(&d.Push.KeyFile)(p.absPath(v, f, true)) }},
				{"plain_http", func(v *yaml.Node, f string) { d.Push.PlainHTTP, _ = p.boolean(v, f) }},
				{"allow_plain_http_off_loopback", func(v *yaml.Node, f string) { d.Push.AllowPlainHTTPOffLoopback, _ = p.boolean(v, f) }},
			})
			if d.Push.Listen != "" && d.Push.PlainHTTP && !d.Push.AllowPlainHTTPOffLoopback && !LoopbackListen(d.Push.Listen) && !p.reported(join(f, "listen")) {
				p.addf(keyOr(keys, "plain_http", v), join(f, "plain_http"), "true on %s, which is not a loopback address: the bearer token would cross the network in clear; serve TLS (cert_file and key_file), listen on 127.0.0.1, or set allow_plain_http_off_loopback: true for an isolated management network", quote(d.Push.Listen))
			}
			if d.Push.Listen != "" && d.Push.TokenFile == "" && !p.reported(join(f, "token_file")) {
				p.addf(keyOr(keys, "listen", v), join(f, "token_file"), "required with listen: a file holding the bearer token device management presents")
			}
			if (d.Push.CertFile == "") != (d.Push.KeyFile == "") {
				p.addf(keyOr(keys, "cert_file", v), join(f, "cert_file"), "cert_file and key_file go together")
			}
		}},
		{"pull", func(v *yaml.Node, f string) {
			p.mapping(v, f, []fieldSpec{
				{"url", func(v *yaml.Node, f string) { setStr(&d.Pull.URL)(p.httpURL(v, f, true)) }},
				{"interval", func(v *yaml.Node, f string) {
					if dur, ok := p.duration(v, f, 10*time.Second, 24*time.Hour); ok {
						d.Pull.Interval = dur
					}
				}},
				{"token_file", func(v *yaml.Node, f string) { setStr(&d.Pull.TokenFile)(p.absPath(v, f, true)) }},
				{"ca_file", func(v *yaml.Node, f string) { setStr(&d.Pull.CAFile)(p.absPath(v, f, true)) }},
			})
		}},
	})
	return d
}

func keyOr(keys map[string]*yaml.Node, k string, n *yaml.Node) *yaml.Node {
	if keys[k] != nil {
		return keys[k]
	}
	return deref(n)
}

// devicePolicy reads a device compliance policy through device.Config's
// tags.
func (p *parser) devicePolicy(n *yaml.Node, field string) (device.Config, bool) {
	var c device.Config
	before := len(p.problems)
	p.decode(n, field, &c)
	return c, len(p.problems) == before
}

func setStr(dst *string) func(string, bool) {
	return func(s string, ok bool) {
		if ok {
			*dst = s
		}
	}
}

// strings reads a list of strings.
func (p *parser) strings(n *yaml.Node, field, example string) []string {
	items, _ := p.list(n, field, example)
	out := make([]string, 0, len(items))
	for i, item := range items {
		if s, ok := p.str(item, index(field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// limit reads a limit within [0, hi] where 0 turns the limit off: it
// returns -1 for 0 (the proxy's "no limit"; the Config's 0 is "the proxy's
// default"), and 0 on a problem.
func (p *parser) limit(n *yaml.Node, field string, hi int) int {
	v, ok := p.integer(n, field, 0, hi)
	switch {
	case !ok:
		return 0
	case v == 0:
		return -1
	}
	return v
}

// integer reads a whole number within [lo, hi].
func (p *parser) integer(n *yaml.Node, field string, lo, hi int) (int, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.addf(n, field, "want a whole number %d..%d, got %s", lo, hi, describe(n))
		return 0, false
	}
	v, err := strconv.Atoi(strings.ReplaceAll(n.Value, "_", ""))
	if err != nil || v < lo || v > hi {
		p.addf(n, field, "%s is out of range %d..%d", shorten(n.Value), lo, hi)
		return 0, false
	}
	return v, true
}

// duration reads a Go duration ("10m", "90s") within [lo, hi].
func (p *parser) duration(n *yaml.Node, field string, lo, hi time.Duration) (time.Duration, bool) {
	s, ok := p.text(n, field, `a duration such as "10m" or "90s"`)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.addf(deref(n), field, "%s is not a duration; write e.g. \"10m\", \"90s\" or \"1h\"", quote(s))
		return 0, false
	case d < lo || d > hi:
		p.addf(deref(n), field, "%s is out of range %v..%v", quote(s), lo, hi)
		return 0, false
	}
	return d, true
}

// hostPort reads a listen address, host:port or :port.
func (p *parser) hostPort(n *yaml.Node, field string, allowEmpty bool, example string) (string, bool) {
	s, ok := p.text(n, field, "host:port, e.g. "+example)
	if !ok || s == "" && allowEmpty {
		return s, ok
	}
	if err := checkHostPort(s); err != nil {
		p.addf(deref(n), field, "%s is not host:port; write e.g. %s", quote(s), example)
		return "", false
	}
	return s, true
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if v, perr := strconv.ParseUint(port, 10, 16); perr != nil || v == 0 {
		return errors.New("bad port")
	}
	if host != "" {
		if _, aerr := netip.ParseAddr(host); aerr != nil && !validHostname(host) {
			return errors.New("bad host")
		}
	}
	return nil
}

// httpURL reads an http(s) URL with a host and no credentials.
func (p *parser) httpURL(n *yaml.Node, field string, allowEmpty bool) (string, bool) {
	s, ok := p.str(n, field)
	if !ok || s == "" && allowEmpty {
		return s, ok
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.addf(deref(n), field, "%s is not an http(s) URL with a host; write e.g. https://mail.internal", quote(s))
	case u.User != nil:
		p.addf(deref(n), field, "%s carries credentials; remove them (use a token file)", quote(s))
	case u.Fragment != "":
		p.addf(deref(n), field, "%s has a #fragment; remove it", quote(s))
	default:
		return s, true
	}
	return "", false
}

// adminHosts reads admin.hosts: Host header values, "name" or
// "name:port", kept lower case.
func (p *parser) adminHosts(n *yaml.Node, field string) []string {
	items, _ := p.list(n, field, `["localhost:8080", "admin.gw.internal"]`)
	var out []string
	for i, item := range items {
		s, ok := p.str(item, index(field, i))
		if !ok {
			continue
		}
		if !validHostHeader(s) {
			p.addf(deref(item), index(field, i), "%s is not a Host header value; write a name or address with an optional port, e.g. localhost:8080 or [::1]:8080", quote(s))
			continue
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

// validHostHeader reports whether s is name, address, name:port or
// [v6]:port.
func validHostHeader(s string) bool {
	if s == "" {
		return false
	}
	if checkHostPort(s) == nil {
		host, _, _ := net.SplitHostPort(s)
		return host != ""
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	return validHostname(s) && strings.Trim(s, ".-") != ""
}

// LoopbackListen reports whether a host:port listen address is on a
// loopback address only (an empty host or a name listens on more).
func LoopbackListen(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// checkGateway cross-checks the gateway sections.
func (p *parser) checkGateway(c *Config, keys map[string]*yaml.Node) {
	if c.Admin.Listen != "" {
		host, _, err := net.SplitHostPort(c.Admin.Listen)
		if a, aerr := netip.ParseAddr(host); err != nil || aerr != nil || !a.IsLoopback() {
			p.addf(keyOr(keys, "admin", nil), "admin.listen", "%s: the admin page serves device and policy data without authentication, so it listens on a loopback address only, e.g. 127.0.0.1:9741 (use an SSH tunnel to reach it)", quote(c.Admin.Listen))
		}
	}
	d := c.Devices
	if d.Push.Listen != "" && !d.Push.PlainHTTP && d.Push.CertFile == "" && (!c.Proxy.Enabled || c.Proxy.PlainHTTP) {
		p.addf(keyOr(keys, "devices", nil), "devices.push.cert_file", "the push API needs a certificate: set cert_file and key_file, or plain_http: true on a trusted network")
	}
	if c.Proxy.Enabled && c.Proxy.Listen != "" && d.Push.Listen == c.Proxy.Listen {
		p.addf(keyOr(keys, "devices", nil), "devices.push.listen", "%s is also proxy.listen; give the push API its own port", quote(d.Push.Listen))
	}
}
