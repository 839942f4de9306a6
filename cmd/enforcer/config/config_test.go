package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mailgate/enforcer/policy"
)

var pfx = netip.MustParsePrefix

var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Prefix{}), cmpopts.EquateEmpty()}

func mustParse(tb testing.TB, yaml string) *Config {
	tb.Helper()
	c, err := Parse("enforcer.yaml", []byte(yaml))
	if err != nil {
		tb.Fatalf("Parse:\n%v\ninput:\n%s", err, yaml)
	}
	return c
}

func TestDefaults(t *testing.T) {
	got := mustParse(t, "interfaces: [eth0]\n")
	want := &Config{
		Interfaces: []Interface{{Name: "eth0", XDPMode: XDPAuto}},
		StateDir:   "/var/lib/enforcer",
		BPFFSDir:   "/sys/fs/bpf/enforcer",
		GeoIP:      GeoIP{Database: "/var/lib/enforcer/GeoLite2-Country.mmdb"},
		Log:        Log{Format: LogText, Level: slog.LevelInfo},
		Admin:      Admin{Socket: "/run/enforcer/enforcer.sock", Listen: "127.0.0.1:9741"},
		Metrics:    Metrics{Listen: "127.0.0.1:9740"},
		Devices:    Devices{MaxDiscovered: 100_000, Pull: DevicePull{Interval: 10 * time.Minute}},
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	p := mustPolicy(t, got)
	if len(p.Services) != 0 || len(p.Deny) != 0 {
		t.Errorf("a config without services protects nothing, got %+v", p)
	}
}

func TestEmptySectionsMeanDefaults(t *testing.T) {
	// Sections and lists whose lines are all commented out are null in
	// YAML; they mean "defaults" and "none", not a type error.
	got := mustParse(t, `
interfaces:
  - name: eth0
geoip:
#  database: /srv/geo.mmdb
log:
deny:
#  - 192.0.2.1
services:
`)
	if got.GeoIP.Database != DefaultGeoIPDatabase || got.Log.Format != LogText || len(got.Deny) != 0 || len(got.Services) != 0 {
		t.Errorf("got %+v", got)
	}
}

func TestSettings(t *testing.T) {
	got := mustParse(t, `
interfaces:
  - {name: eth0, xdp_mode: native}
  - name: bond0.100
    xdp_mode: generic
  - ens3
state_dir: /srv/enforcer
bpffs_dir: /sys/fs/bpf/enf2
geoip: {database: "", required: false}
log: {format: json, level: debug}
admin: {socket: /run/enf.sock, listen: ""}
metrics: {listen: ""}
devices: {max_discovered: 0, pull: {interval: 30s}}
`)
	want := &Config{
		Interfaces: []Interface{{"eth0", XDPNative}, {"bond0.100", XDPGeneric}, {"ens3", XDPAuto}},
		StateDir:   "/srv/enforcer",
		BPFFSDir:   "/sys/fs/bpf/enf2",
		Log:        Log{Format: LogJSON, Level: slog.LevelDebug},
		Admin:      Admin{Socket: "/run/enf.sock"},
		Devices:    Devices{Pull: DevicePull{Interval: 30 * time.Second}},
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		listen string
	}{{"[::1]:9740"}, {"localhost:9100"}, {":9740"}, {"0.0.0.0:80"}} {
		c := mustParse(t, "interfaces: [eth0]\nmetrics: {listen: \""+tc.listen+"\"}\n")
		if c.Metrics.Listen != tc.listen {
			t.Errorf("listen %q: got %q", tc.listen, c.Metrics.Listen)
		}
	}
	for _, l := range []string{"debug", "info", "warn", "error"} {
		c := mustParse(t, "interfaces: [eth0]\nlog: {level: "+l+"}\n")
		if got := levelName(c.Log.Level); got != l {
			t.Errorf("level %s read as %v", l, got)
		}
	}
}

func TestServiceDefaultsAndMerge(t *testing.T) {
	c := mustParse(t, `
interfaces: [eth0]
services:
  - name: imap                # default ports, no countries: allowlist only
    allow: [192.0.2.0/24]
  - name: pop3                # ports replaced, countries: geofenced
    ports: [995]
    countries: [DE, NO]       # Norway, not YAML 1.1's false
  - name: activesync          # countries kept but geofencing off
    countries: [FR]
    geofence: false
  - name: webmail             # geofenced with no countries: CLI-managed set
    geofence: true
    protocols: [tcp, udp]
  - name: admin
    enabled: false
  - name: quic-mail           # own service, udp only, destination-limited
    protocols: [udp]
    ports: [443]
    destinations: ["2001:db8::443/128", 192.0.2.44]
  - name: smtp
`)
	tcp, udp := policy.TCP, policy.UDP
	want := []Service{
		{Name: "imap", Protocols: []policy.Proto{tcp}, Ports: []uint16{143, 993}, Allow: []Entry{{Prefix: pfx("192.0.2.0/24")}}, Enabled: true},
		{Name: "pop3", Protocols: []policy.Proto{tcp}, Ports: []uint16{995}, Countries: []string{"DE", "NO"}, Geofence: true, Enabled: true},
		{Name: "activesync", Protocols: []policy.Proto{tcp}, Ports: []uint16{443}, Countries: []string{"FR"}, Enabled: true},
		{Name: "webmail", Protocols: []policy.Proto{tcp, udp}, Ports: []uint16{8443}, Geofence: true, Enabled: true},
		{Name: "admin", Protocols: []policy.Proto{tcp}, Ports: []uint16{9443}},
		{Name: "quic-mail", Protocols: []policy.Proto{udp}, Ports: []uint16{443}, Destinations: []netip.Prefix{pfx("2001:db8::443/128"), pfx("192.0.2.44/32")}, Enabled: true},
		{Name: "smtp", Protocols: []policy.Proto{tcp}, Ports: []uint16{25, 465, 587}, Enabled: true},
	}
	if diff := cmp.Diff(want, c.Services, cmpOpts); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if c.Service("pop3") == nil || c.Service("nope") != nil {
		t.Error("Service lookup")
	}
	var names []string
	for _, s := range c.PolicyInput().Services {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"imap", "pop3", "activesync", "webmail", "admin", "quic-mail"}, names); diff != "" {
		t.Errorf("services with a datapath id (-want +got):\n%s", diff)
	}
}

func TestDefaultServices(t *testing.T) {
	want := map[string][]uint16{
		"activesync": {443}, "webmail": {8443}, "imap": {143, 993}, "pop3": {110, 995}, "admin": {9443}, "smtp": {25, 465, 587},
	}
	got := map[string][]uint16{}
	for _, s := range DefaultServices() {
		got[s.Name] = s.Ports
		if !s.Enabled || s.Geofence || len(s.Countries) > 0 || len(s.Allow) > 0 {
			t.Errorf("%s: a default is an enabled template without sources: %+v", s.Name, s)
		}
		if diff := cmp.Diff([]policy.Proto{policy.TCP}, s.Protocols); diff != "" {
			t.Errorf("%s protocols (-want +got):\n%s", s.Name, diff)
		}
		if s.Protected() != (s.Name != "smtp") {
			t.Errorf("%s: Protected() = %v", s.Name, s.Protected())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default ports (-want +got):\n%s", diff)
	}
	// Every default, named alone, must be valid together: no clashes
	// among the defaults themselves.
	var b strings.Builder
	b.WriteString("interfaces: [eth0]\nservices:\n")
	for name := range want {
		b.WriteString("  - name: " + name + "\n")
	}
	mustParse(t, b.String())
	// The returned slice is a copy.
	DefaultServices()[0].Ports[0] = 1
	if DefaultServices()[0].Ports[0] != 443 {
		t.Error("DefaultServices shares its slices")
	}
}

func TestExample(t *testing.T) {
	onDisk, err := os.ReadFile("enforcer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != string(Example()) {
		t.Fatal("Example() differs from enforcer.example.yaml")
	}
	c := mustParse(t, string(Example()))
	p := mustPolicy(t, c)
	var names []string
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	// pop3 is disabled and smtp never filtered.
	if diff := cmp.Diff([]string{"activesync", "webmail", "imap", "admin", "sieve"}, names); diff != "" {
		t.Errorf("protected services (-want +got):\n%s", diff)
	}
	if len(c.Deny) != 2 || c.Deny[0].Prefix != pfx("192.0.2.66/32") || c.Deny[1].Comment == "" {
		t.Errorf("deny: %+v", c.Deny)
	}
	// The example's webmail takes 443 on its own address from activesync.
	m, err := policy.NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst  string
		want string
	}{{"203.0.113.80", "webmail"}, {"203.0.113.81", "activesync"}} {
		s := m.ServiceFor(policy.TCP, 443, netip.MustParseAddr(tc.dst))
		if s == nil || s.Name != tc.want {
			t.Errorf("tcp/443 to %s: got %+v, want %s", tc.dst, s, tc.want)
		}
	}
	// Example returns a copy.
	Example()[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example shares its bytes")
	}
}

func TestRoundTrip(t *testing.T) {
	inputs := map[string]string{
		"example": string(Example()),
		"minimal": "interfaces: [eth0]\n",
		"quoting": `
interfaces: [{name: eth0, xdp_mode: generic}]
geoip: {database: "", required: false}
metrics: {listen: ""}
log: {format: json, level: error}
deny: ["::ffff:192.0.2.0/120", {cidr: 2001:db8::/32, comment: "yes: # a comment with 'quotes'"}]
services:
  - {name: "443", ports: [443], countries: ["NO", DE], protocols: [udp, tcp]}
  - {name: a-b, ports: [65535, 1], allow: [{cidr: 10.0.0.0/8, comment: ""}], enabled: false}
`,
		"gateway": gatewayYAML,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			c := mustParse(t, in)
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back := mustParse(t, string(out))
			if diff := cmp.Diff(c, back, cmpOpts); diff != "" {
				t.Errorf("Parse(Marshal(c)) differs (-want +got):\n%s\nmarshalled:\n%s", diff, out)
			}
			again, err := back.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Errorf("Marshal is not stable:\n%s\nthen:\n%s", out, again)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "enforcer.yaml")
	if err := os.WriteFile(path, Example(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(path, []byte("interfaces: [eth0]\nstate_dir: relative\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var cerr *Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].File != path {
		t.Fatalf("Load(bad) = %#v, want one problem in %s", err, path)
	}
	if want := path + ":2:12: state_dir: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want prefix %q", err, want)
	}
}
