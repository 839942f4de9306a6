// Package config reads enforcer's one configuration file (YAML, by default
// /etc/enforcer/enforcer.yaml): the interfaces to guard, where state lives,
// the GeoIP database, logging, the admin socket, metrics, the deny list and
// the protected services. It decodes strictly: every problem is reported
// with file:line:col, the field and what to do, all at once (up to
// MaxProblems), as an *Error.
//
// A Config converts into the input of policy/compose, which makes the
// datapath's policy.Policy, with (*Config).PolicyInput.
//
// REFERENCE.md in this directory is the operator's field reference; keep it
// in step with the doc comments here.
//
// It is where the application is wired: it owns the file's syntax, its
// defaults and how each section maps onto the option type of the library
// that owns the setting, so it may import those libraries (l7/...,
// policy). No library imports it, and it must not know the running daemon
// (reloads, servers, the admin API).
package config

import (
	_ "embed"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"

	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/policy"
)

// DefaultPath is where enforcer looks for its configuration file.
const DefaultPath = "/etc/enforcer/enforcer.yaml"

// Defaults of the top-level settings.
const (
	DefaultStateDir      = "/var/lib/enforcer"
	DefaultBPFFSDir      = "/sys/fs/bpf/enforcer"
	DefaultGeoIPDatabase = "/var/lib/enforcer/GeoLite2-Country.mmdb"
	DefaultAdminSocket   = "/run/enforcer/enforcer.sock"
	DefaultMetricsListen = "127.0.0.1:9740"
)

// MaxProblems is how many problems an *Error lists before it summarises the
// rest as a count.
const MaxProblems = 20

// MaxDestinations is how many (protocol, port, destination prefix) entries
// the datapath holds for destination-limited services (MAX_DESTS in
// bpf/include/enforcer.h).
const MaxDestinations = 4096

// Config is a parsed, validated configuration file with every default
// filled in.
type Config struct {
	// Interfaces are the network interfaces the XDP program is attached to.
	// Required: at least one.
	Interfaces []Interface
	// StateDir holds the runtime state store (CLI changes) and the service
	// id map. An absolute path; default DefaultStateDir.
	StateDir string
	// BPFFSDir is where the datapath's maps, program and links are pinned
	// (on a bpffs mount); they keep enforcing while the daemon restarts. An
	// absolute path; default DefaultBPFFSDir.
	BPFFSDir string
	// GeoIP is the country database.
	GeoIP GeoIP
	// Log is the daemon's log output.
	Log Log
	// Admin is the control socket the CLI talks to.
	Admin Admin
	// Metrics is the Prometheus endpoint.
	Metrics Metrics
	// Proxy is the L7 ActiveSync gateway; off unless the section is
	// present.
	Proxy Proxy
	// Devices is device compliance: records, policy and their sync.
	Devices Devices
	// Transforms is the email security applied by the proxy; off unless
	// the section is present.
	Transforms transform.Config
	// Deny lists sources dropped on every protected service, before any
	// allowlist or country is looked at. Default empty.
	Deny []Entry
	// Services are the services named in the file, in file order, each
	// merged with the built-in default of the same name (DefaultServices).
	// Default empty: a configuration that names no service protects
	// nothing.
	Services []Service
}

// Interface is one network interface to guard.
type Interface struct {
	// Name is the kernel's interface name (eth0, ens3, bond0). Required.
	Name string
	// XDPMode is how the XDP program is attached. Default XDPAuto.
	XDPMode XDPMode
}

// XDPMode is how the XDP program is attached to an interface.
type XDPMode string

// XDP attach modes.
const (
	// XDPAuto attaches in native (driver) mode where the driver supports
	// XDP and in generic mode otherwise.
	XDPAuto XDPMode = "auto"
	// XDPNative attaches in the driver, before the kernel allocates an
	// skb, and fails where the driver has no XDP support.
	XDPNative XDPMode = "native"
	// XDPGeneric attaches in the kernel's receive path: any driver,
	// slower.
	XDPGeneric XDPMode = "generic"
)

// GeoIP configures the country database.
type GeoIP struct {
	// Database is a MaxMind GeoLite2/GeoIP2 Country database or one of the
	// same format (DB-IP Lite), kept fresh by `enforcer geoip update`.
	// Default DefaultGeoIPDatabase; "" runs without one. Without a
	// database no source has a country, so geofenced services admit only
	// their allowlisted sources (others are dropped as no-country).
	Database string
	// Required makes the daemon refuse to start when Database cannot be
	// read. Default false: it starts, logs a warning, and geofenced
	// services admit only allowlisted sources until a database appears.
	Required bool
}

// Log configures the daemon's structured log (log/slog) on stderr.
type Log struct {
	// Format is LogText (default) or LogJSON.
	Format LogFormat
	// Level is the least severe record written: debug, info (default),
	// warn or error.
	Level slog.Level
}

// LogFormat is the log output encoding.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text" // slog.TextHandler: key=value
	LogJSON LogFormat = "json" // slog.JSONHandler: one JSON object a line
)

// Admin configures the control socket.
type Admin struct {
	// Socket is the path of the unix socket the CLI talks to; created
	// root-only. An absolute path; default DefaultAdminSocket.
	Socket string
	// Listen is the host:port of the read-only admin page (diagnostics,
	// device and policy look-ups, CSV exports). A loopback address only;
	// default DefaultAdminListen; "" turns it off.
	Listen string
	// Hosts are more Host header values the admin page answers, as
	// "name" (any port) or "name:port", e.g. "localhost:8080" for an SSH
	// tunnel on another local port. The page always answers 127.0.0.1,
	// [::1] and localhost with admin.listen's port; any other Host is
	// refused (421), which defeats DNS rebinding. Default none.
	Hosts []string
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port that serves /metrics. Default
	// DefaultMetricsListen (localhost only); "" disables the endpoint.
	Listen string
}

// Entry is one prefix of the deny list or an allowlist, with the
// operator's note.
type Entry struct {
	// Prefix is the network. A bare address in the file is a host prefix
	// (/32 or /128).
	Prefix netip.Prefix
	// Comment is free text kept for `enforcer allow list` and friends.
	// Default "".
	Comment string
}

// Service is one service on the protected mail server(s).
type Service struct {
	// Name identifies the service in the CLI, logs and metrics: lower-case
	// letters, digits and '-', at most 32 characters, unique. Required. A
	// name of DefaultServices (activesync, webmail, imap, pop3, admin,
	// smtp) starts from that default; the fields the file sets replace the
	// default's.
	Name string
	// Protocols the service is reached by: tcp, udp or both. Default [tcp].
	Protocols []policy.Proto
	// Ports are the destination ports, 1..65535. Required, unless the
	// service has a default.
	Ports []uint16
	// Destinations limits the service to packets to these prefixes (the
	// addresses of the servers that offer it); default empty: any
	// destination. Services may share a protocol and port when their
	// destinations differ; the longest matching destination prefix wins,
	// and a service without destinations takes the rest.
	Destinations []netip.Prefix
	// Allow lists the sources always admitted (unless denied). Default
	// empty.
	Allow []Entry
	// Countries are ISO 3166-1 alpha-2 codes (upper case) whose sources
	// are admitted when Geofence is set. Default empty.
	Countries []string
	// Geofence admits sources located in Countries besides Allow; without
	// it only Allow is admitted. Default true when Countries are given,
	// false otherwise. Never allowed on admin (explicit addresses only) or
	// on SMTP ports (tcp 25, 465, 587).
	Geofence bool
	// AdmitAll (admit: all) admits every source not in the deny list: a
	// service that is only blocklisted. Default false (admit: listed):
	// only Allow and, when geofenced, Countries. Refused together with
	// countries or geofence, on admin and on smtp. The allowlist has no
	// effect while it is set.
	AdmitAll bool
	// Enabled puts the service in the datapath. A disabled service is
	// validated and keeps its datapath id, but its ports are left
	// unprotected and not checked against other services'. Default true.
	Enabled bool
	// Derived is "" for a service of the file; for one enforcer derives
	// (see DeriveUpstream) it names the field it comes from, e.g.
	// "proxy.upstream".
	Derived string
}

// ServiceSMTP is the name of the one service that is never filtered: SMTP
// must accept mail from any host (a mail exchanger does not know its
// senders in advance), so enforcer leaves tcp 25, 465 and 587 to the mail
// server, which restricts submission per account after login. Naming smtp
// in the file documents that and reserves its ports against other
// services; Policy leaves it out.
const ServiceSMTP = "smtp"

// smtpPorts are the SMTP ports (RFC 5321 relay, RFC 8314 submissions, RFC
// 6409 submission) on which geofencing is refused.
var smtpPorts = []uint16{25, 465, 587}

// ServiceAdmin is the name of the mail server's admin page, which admits
// explicit addresses only (Allow), never countries.
const ServiceAdmin = "admin"

// Protected reports whether the datapath filters the service: every
// service but smtp.
func (s *Service) Protected() bool { return s.Name != ServiceSMTP }

// DefaultServices returns the built-in mail services. They are templates:
// a service is protected only when the file names it, and the file's
// fields replace the template's.
//
//   - activesync: tcp 443, Exchange ActiveSync (and EWS, Autodiscover) on
//     HTTPS. Usually allowlist only: the mobile email gateway's addresses.
//   - webmail: tcp 8443. Webmail (OWA) usually shares 443 with ActiveSync;
//     packets cannot tell them apart on one address and port, so either
//     publish webmail on its own port, or on its own address with ports
//     [443] and destinations [that address]: the destination-limited
//     service wins there, activesync keeps the rest.
//   - imap: tcp 143, 993 (RFC 9051, RFC 8314 implicit TLS).
//   - pop3: tcp 110, 995 (RFC 1939, RFC 8314).
//   - admin: tcp 9443, allowlist only; never geofenced.
//   - smtp: tcp 25, 465, 587; never filtered (see ServiceSMTP).
func DefaultServices() []Service {
	tcp := func(ports ...uint16) Service {
		return Service{Protocols: []policy.Proto{policy.TCP}, Ports: ports, Enabled: true}
	}
	named := func(name string, s Service) Service { s.Name = name; return s }
	return []Service{
		named("activesync", tcp(443)),
		named("webmail", tcp(8443)),
		named("imap", tcp(143, 993)),
		named("pop3", tcp(110, 995)),
		named(ServiceAdmin, tcp(9443)),
		named(ServiceSMTP, tcp(smtpPorts...)),
	}
}

func defaultService(name string) (Service, bool) {
	for _, s := range DefaultServices() {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Service returns the service called name, or nil.
func (c *Config) Service(name string) *Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}

//go:embed enforcer.example.yaml
var example []byte

// Example returns the commented example configuration
// (enforcer.example.yaml): valid, with every field at or near its default.
func Example() []byte { return slices.Clone(example) }

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}
