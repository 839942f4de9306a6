package proxy

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Defaults of the [Config] fields; see each field.
const (
	DefaultListen              = ":443"
	DefaultCertCheckInterval   = 5 * time.Second
	DefaultMaxHeaderBytes      = 64 << 10
	DefaultMaxConns            = 50_000
	DefaultMaxConnsPerSource   = 512
	DefaultHTTP2MaxStreams     = 1000
	DefaultMinBodyRate         = 1024
	DefaultBodyRateWindow      = 30 * time.Second
	DefaultBodyTimeout         = 15 * time.Minute
	DefaultReadHeaderTimeout   = 15 * time.Second
	DefaultIdleTimeout         = 120 * time.Second
	DefaultBodyIdleTimeout     = 60 * time.Second
	DefaultWriteIdleTimeout    = 60 * time.Second
	DefaultCommandTimeout      = 120 * time.Second
	DefaultLongPollTimeout     = MaxHeartbeat + 120*time.Second
	DefaultShutdownTimeout     = 10 * time.Second
	DefaultNoPolicyRetryAfter  = 120 * time.Second
	DefaultUpstreamDialTimeout = 10 * time.Second
	DefaultMaxIdleUpstream     = 1024
	DefaultMaxRedirects        = 100_000
)

// MaxHeartbeat is the longest heartbeat an ActiveSync client may ask of
// Ping or of Sync with HeartbeatInterval: 3540 seconds ([MS-ASCMD]
// 2.2.3.86.1 and 2.2.3.86.2, 59 minutes; Sync's Wait is at most 59 minutes
// too, 2.2.3.189).
const MaxHeartbeat = 3540 * time.Second

// DefaultWebmailPrefixes are the webmail paths passed through when webmail
// is enabled. /ecp (the Exchange admin centre) is left out on purpose: add
// it explicitly if it must be reachable from outside.
var DefaultWebmailPrefixes = []string{"/owa"}

// Config configures a [Proxy]. Zero fields take the documented defaults
// ([Config.WithDefaults]); only Upstream and the certificate (or
// PlainHTTP) are required.
//
// Config is also the configuration file's proxy section (package
// cmd/enforcer/config reads and writes it through the tags): yaml is a
// field's key there (no yaml tag: not in the file, the default applies),
// check the syntax the file uses for it ("limit": the file's 0 is this
// type's negative "no limit"; "deadline": the file's "0s" is a negative
// "none"), and [Config.Validate] names fields by those keys.
type Config struct {
	// Upstream is the mail server's base URL, "https://mail.internal" (a
	// path, if any, is prefixed to every proxied path). Required.
	Upstream string `yaml:"upstream" check:"url"`
	// UpstreamCAFile is a PEM bundle of the authorities that sign the mail
	// server's certificate. Default "": the system roots.
	UpstreamCAFile string `yaml:"upstream_ca_file" check:"path"`
	// InsecureSkipVerify turns off verification of the mail server's
	// certificate (the reference gateway's "Ignore SSL errors with email
	// server"). Default false. When set, New logs a warning, since anyone
	// on the path to the mail server can then read every password.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// UpstreamDialTimeout bounds connecting to the mail server, TLS
	// handshake included. Default 10 s.
	UpstreamDialTimeout time.Duration
	// MaxIdleUpstream is the number of idle keep-alive connections kept
	// per mail server host. Default 1024 (Go's default of 2 would reopen a
	// connection for almost every request of a busy gateway).
	MaxIdleUpstream int
	// MaxUpstreamConns bounds the connections to one mail server host,
	// idle and busy. A request finding them all busy waits for one,
	// within its upstream response timeout (then 504). Default MaxConns:
	// every HTTP/1.1 client connection can hold its one upstream
	// connection (a Ping long-poll holds one for up to an hour), while
	// HTTP/2 clients, whose streams each hold one, cannot multiply the
	// gateway's client limit at the mail server. Negative: no limit.
	MaxUpstreamConns int `yaml:"max_upstream_conns,omitempty" check:"limit 0..10_000_000"`

	// Listen is the address Serve's caller should listen on (used by
	// [Proxy.ListenAndServe]). Default ":443".
	Listen string `yaml:"listen" check:"hostport :443, 0.0.0.0:443 or [::]:443"`
	// CertFile and KeyFile are the PEM certificate chain and key the
	// gateway presents to clients. Both are required unless PlainHTTP is
	// set. The files are re-read when either one's modification time
	// changes (checked at most every CertCheckInterval, on a handshake), so
	// a renewed certificate takes effect without a restart; a pair that
	// fails to load keeps the previous one in service and is logged.
	CertFile string `yaml:"cert_file" check:"path"`
	KeyFile  string `yaml:"key_file" check:"path"`
	// CertCheckInterval is how often a handshake may stat the certificate
	// files. Default 5 s.
	CertCheckInterval time.Duration
	// PlainHTTP serves without TLS, for a deployment where a TLS
	// terminator in front forwards to the gateway over a trusted network.
	// Default false; then CertFile and KeyFile are required.
	PlainHTTP bool `yaml:"plain_http"`

	// MaxHeaderBytes bounds a request's header block; larger requests get
	// 431. Default 64 KiB (Kerberos tickets in Authorization run to tens of
	// kilobytes).
	MaxHeaderBytes int
	// MaxConns bounds concurrent client connections; further connections
	// wait in the kernel's accept queue. Default 50,000. Each Ping
	// long-poll holds one client connection and one to the mail server.
	MaxConns int `yaml:"max_conns,omitempty" check:"1..10_000_000"`
	// MaxConnsPerSource bounds the concurrent client connections of one
	// source that is not in TrustedProxies: one IPv4 address, or one IPv6
	// /64 (what one subscriber is given). A connection beyond it is
	// closed when accepted, before its TLS handshake, and logged. Default
	// 512: room for a carrier's or an office's NAT with a few hundred
	// devices behind one address (each holds a Ping long-poll and now and
	// then a second connection), while one host can take at most that
	// share of MaxConns. It bounds the source's requests in flight to the
	// mail server too (each holds an upstream connection, and one HTTP/2
	// connection carries many): one beyond is answered 429 with
	// Retry-After. Trusted proxies are not limited: a load balancer in
	// front may hold thousands of connections. Negative: no limit.
	MaxConnsPerSource int `yaml:"max_conns_per_source,omitempty" check:"limit 0..10_000_000"`
	// HTTP2MaxStreams is the number of concurrent streams (requests) a
	// client HTTP/2 connection may open (SETTINGS_MAX_CONCURRENT_STREAMS);
	// a stream beyond it is reset. Each stream holds at most one upstream
	// connection, so a client connection holds at most this many. Default
	// 1000: a front proxy multiplexing devices over HTTP/2 holds one
	// stream per Ping long-poll, so Go's default of 250 is low.
	HTTP2MaxStreams int `yaml:"http2_max_streams,omitempty" check:"1..100_000"`
	// MaxRequestBodyBytes bounds a request body; a larger upload is cut and
	// answered 413. Default 0: no limit here (bodies stream to the mail
	// server, which enforces its own maxRequestLength).
	MaxRequestBodyBytes int64

	// ReadHeaderTimeout bounds the TLS handshake and reading the request
	// header. Default 15 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle between requests.
	// Default 120 s.
	IdleTimeout time.Duration
	// BodyIdleTimeout drops a client whose request body stalls this long
	// between reads. Default 60 s.
	BodyIdleTimeout time.Duration
	// MinBodyRate is the slowest pace, in bytes per second, a request
	// body may keep: every BodyRateWindow of waiting for it must bring
	// MinBodyRate × BodyRateWindow bytes (or the rest of the body), else
	// the request is answered 408 (over HTTP/1.1 its connection closed). The first
	// window is the grace period. Only time spent waiting for the client
	// counts, not time the mail server takes to accept what was sent.
	// Default 1024 (1 KiB/s: 8 kbit/s, below any mobile data link; a
	// client that keeps a body open by trickling bytes must spend that
	// much). Negative: no minimum rate.
	MinBodyRate int `yaml:"min_body_rate,omitempty" check:"limit 0..1_073_741_824"`
	// BodyRateWindow is the window of MinBodyRate. Default 30 s.
	BodyRateWindow time.Duration `yaml:"body_rate_window,omitempty" check:"1s..1h"`
	// BodyTimeout bounds the whole request body, from the first read of
	// it to its end: 408 beyond it (over HTTP/1.1 the connection closed). Default 15
	// minutes (a 10 MB SendMail over a 100 kbit/s uplink fits). Negative:
	// no total deadline, bodies only need MinBodyRate.
	BodyTimeout time.Duration `yaml:"body_timeout,omitempty" check:"deadline 1s..24h"`
	// WriteIdleTimeout drops a client that accepts no response bytes for
	// this long. Default 60 s. (There is no total write timeout: it would
	// cut long polls.)
	WriteIdleTimeout time.Duration
	// CommandTimeout is the upstream response timeout of every request
	// but a long poll: from the request being sent upstream to the
	// response header arriving. Default 120 s ([MS-ASHTTP] clients give up
	// well before that; 2 minutes leaves room for a large ItemOperations).
	CommandTimeout time.Duration
	// LongPollTimeout is the upstream response timeout of Ping and Sync,
	// which the server may hold for the client's heartbeat (up to
	// MaxHeartbeat) before answering. The proxy does not parse request
	// bodies to learn the requested heartbeat, so every Ping and Sync gets
	// this ceiling. Default MaxHeartbeat + 120 s.
	LongPollTimeout time.Duration
	// ShutdownTimeout is how long Serve waits, once its context is done,
	// for requests in flight before closing connections (long polls are
	// cut; clients reissue them). Default 10 s.
	ShutdownTimeout time.Duration

	// NoPolicyRetryAfter is the Retry-After of the 503 answered while no
	// policy is loaded and the gateway fails closed. Default 120 s.
	NoPolicyRetryAfter time.Duration

	// EWS configures the /EWS route.
	EWS EWSConfig `yaml:",inline"`
	// Webmail passes browser traffic through without compliance checks.
	Webmail WebmailConfig `yaml:",inline"`

	// TrustQueryUser takes an ActiveSync request's user from its query's
	// User parameter when its credentials name none (Negotiate, Bearer,
	// no Authorization). Default false: such a request is unidentified
	// and blocked (identity.unidentified). Only for a mail server that
	// authenticates every request and refuses one whose User is not the
	// authenticated account; otherwise a client with any valid login, or
	// none, claims another user's device record, allow list entry or
	// managed status.
	TrustQueryUser bool `yaml:"trust_query_user,omitempty"`
	// ClientCAFile is a PEM bundle of the authorities whose client
	// certificates identify users (certificate-based authentication; the
	// certificate needs the Client Authentication extended key usage).
	// Read once by New; revocation is not checked. Default "": no client
	// certificate is asked for. Not with PlainHTTP.
	ClientCAFile string `yaml:"client_ca_file,omitempty" check:"path"`
	// ClientCertMode is ClientCertOptional or ClientCertRequire. Default
	// ClientCertOptional when ClientCAFile is set, else ClientCertOff.
	ClientCertMode string `yaml:"client_cert_mode,omitempty" check:"enum a client certificate mode: off, optional, require"`
	// ClientCertUser says where a verified certificate names its user:
	// CertUserUPN, CertUserCN or CertUserUPNOrCN. Default CertUserUPN. A
	// verified certificate without that name is unidentified.
	ClientCertUser string `yaml:"client_cert_user,omitempty" check:"enum a certificate user source: upn, cn, upn_or_cn"`

	// TrustedProxies are the addresses of load balancers or reverse
	// proxies in front whose X-Forwarded-For the gateway believes: for a
	// request from one of them, the client address (for policy, discovery
	// and logs) is the rightmost X-Forwarded-For entry that is not itself
	// trusted, and the header is passed on with the peer appended. Default
	// none: the TCP peer is the client, and client X-Forwarded-For headers
	// are dropped.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies" example:"[10.0.0.0/8]"`

	// MaxRedirects bounds the remembered 451 redirect mappings; when full,
	// the least recently used is forgotten. Default 100,000.
	MaxRedirects int
	// RedirectHosts, when not empty, are the only hosts (exact, case
	// insensitive, port ignored) a 451 X-MS-Location may name; a redirect
	// elsewhere is answered 502. Default empty: any host the mail server
	// names (as Exchange hybrid redirects to Exchange Online).
	RedirectHosts []string `yaml:"redirect_hosts" example:"[outlook.office365.com]"`
}

// EWSConfig configures the /EWS route.
type EWSConfig struct {
	// Enabled proxies /EWS under the EWS rule (see the package
	// documentation). Default false: /EWS gets 404 and never reaches the
	// mail server, as on the reference gateway.
	Enabled bool `yaml:"ews"`
}

// WebmailConfig configures webmail pass-through.
type WebmailConfig struct {
	// Enabled passes requests under Prefixes to the mail server. Default
	// false: webmail paths get 404, like every unknown path.
	Enabled bool `yaml:"webmail"`
	// Prefixes are path prefixes matched on whole segments, ignoring
	// case. Default DefaultWebmailPrefixes (/owa).
	Prefixes []string `yaml:"webmail_prefixes,omitempty" example:"[/owa]"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	setDur(&c.CertCheckInterval, DefaultCertCheckInterval)
	setDur(&c.UpstreamDialTimeout, DefaultUpstreamDialTimeout)
	setInt(&c.MaxIdleUpstream, DefaultMaxIdleUpstream)
	setInt(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setInt(&c.MaxConns, DefaultMaxConns)
	setInt(&c.MaxConnsPerSource, DefaultMaxConnsPerSource)
	setInt(&c.MaxUpstreamConns, c.MaxConns)
	setInt(&c.HTTP2MaxStreams, DefaultHTTP2MaxStreams)
	setInt(&c.MinBodyRate, DefaultMinBodyRate)
	setDur(&c.BodyRateWindow, DefaultBodyRateWindow)
	setDur(&c.BodyTimeout, DefaultBodyTimeout)
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.BodyIdleTimeout, DefaultBodyIdleTimeout)
	setDur(&c.WriteIdleTimeout, DefaultWriteIdleTimeout)
	setDur(&c.CommandTimeout, DefaultCommandTimeout)
	setDur(&c.LongPollTimeout, DefaultLongPollTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&c.NoPolicyRetryAfter, DefaultNoPolicyRetryAfter)
	setInt(&c.MaxRedirects, DefaultMaxRedirects)
	if c.ClientCertMode == "" {
		c.ClientCertMode = ClientCertOff
		if c.ClientCAFile != "" {
			c.ClientCertMode = ClientCertOptional
		}
	}
	if c.ClientCertUser == "" {
		c.ClientCertUser = CertUserUPN
	}
	if len(c.Webmail.Prefixes) == 0 {
		c.Webmail.Prefixes = DefaultWebmailPrefixes
	}
	return c
}

// Validate checks c, with defaults applied, as [New] does. A non-nil
// error joins *ConfigError values, each naming its field by its key in
// the configuration file (the Go name for a field not in the file).
func (c Config) Validate() error {
	c = c.WithDefaults()
	_, err := c.validate()
	return err
}

// validate checks a config with defaults applied and returns the parsed
// upstream URL.
func (c *Config) validate() (*url.URL, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	u, err := url.Parse(c.Upstream)
	switch {
	case c.Upstream == "":
		bad("upstream", "required: the mail server's URL, e.g. upstream: https://mail.internal")
		u = nil
	case err != nil:
		bad("upstream", "%q: %v", c.Upstream, err)
		u = nil
	case u.Scheme != "https" && u.Scheme != "http":
		bad("upstream", "%q: scheme must be https or http", c.Upstream)
	case u.Host == "":
		bad("upstream", "%q: no host", c.Upstream)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		bad("upstream", "%q: only scheme, host and path are allowed", c.Upstream)
	}
	if !c.PlainHTTP && (c.CertFile == "" || c.KeyFile == "") {
		bad("cert_file", "cert_file and key_file are required (the certificate clients see), unless plain_http: true behind a TLS terminator")
	}
	if c.PlainHTTP && (c.CertFile != "" || c.KeyFile != "") {
		bad("plain_http", "true together with cert_file/key_file; choose one")
	}
	for name, d := range map[string]time.Duration{
		"CertCheckInterval": c.CertCheckInterval, "UpstreamDialTimeout": c.UpstreamDialTimeout,
		"ReadHeaderTimeout": c.ReadHeaderTimeout, "IdleTimeout": c.IdleTimeout,
		"BodyIdleTimeout": c.BodyIdleTimeout, "WriteIdleTimeout": c.WriteIdleTimeout,
		"CommandTimeout": c.CommandTimeout, "LongPollTimeout": c.LongPollTimeout,
		"ShutdownTimeout": c.ShutdownTimeout, "NoPolicyRetryAfter": c.NoPolicyRetryAfter,
		"body_rate_window": c.BodyRateWindow,
	} {
		if d < 0 {
			bad(name, "negative duration %v", d)
		}
	}
	if c.LongPollTimeout < c.CommandTimeout {
		bad("LongPollTimeout", "%v is below CommandTimeout %v", c.LongPollTimeout, c.CommandTimeout)
	}
	for name, n := range map[string]int{
		"MaxHeaderBytes": c.MaxHeaderBytes, "max_conns": c.MaxConns,
		"MaxIdleUpstream": c.MaxIdleUpstream, "MaxRedirects": c.MaxRedirects,
		"http2_max_streams": c.HTTP2MaxStreams,
	} {
		if n < 0 {
			bad(name, "negative value %d", n)
		}
	}
	if c.MaxRequestBodyBytes < 0 {
		bad("MaxRequestBodyBytes", "negative value %d", c.MaxRequestBodyBytes)
	}
	for i, p := range c.Webmail.Prefixes {
		if !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/") || p != cleanPath(p) {
			bad(fmt.Sprintf("webmail_prefixes[%d]", i), "%q: want a path such as /owa", p)
			continue
		}
		if r := staticRoute(p); r != routeNone {
			bad(fmt.Sprintf("webmail_prefixes[%d]", i), "%q overlaps the %s route", p, r)
		}
	}
	switch c.ClientCertMode {
	case ClientCertOff:
		if c.ClientCAFile != "" {
			bad("client_cert_mode", "off with client_ca_file set; set optional or require, or remove client_ca_file")
		}
	case ClientCertOptional, ClientCertRequire:
		switch {
		case c.ClientCAFile == "":
			bad("client_ca_file", "required with client_cert_mode: %s (the authorities that sign client certificates)", c.ClientCertMode)
		case c.PlainHTTP:
			bad("client_ca_file", "set with plain_http: true; client certificates need the gateway to terminate TLS")
		}
	default:
		bad("client_cert_mode", "%q: want off, optional or require", c.ClientCertMode)
	}
	switch c.ClientCertUser {
	case CertUserUPN, CertUserCN, CertUserUPNOrCN:
	default:
		bad("client_cert_user", "%q: want upn, cn or upn_or_cn", c.ClientCertUser)
	}
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "invalid prefix")
		}
	}
	for i, h := range c.RedirectHosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/ ") {
			bad(fmt.Sprintf("redirect_hosts[%d]", i), "%q: want a host name", h)
		}
	}
	if len(errs) > 0 {
		return nil, joinConfigErrors(errs)
	}
	return u, nil
}
