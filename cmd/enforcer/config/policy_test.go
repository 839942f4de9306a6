package config

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
)

// mustPolicy is the policy c makes without runtime changes.
func mustPolicy(t *testing.T, c *Config) *policy.Policy {
	t.Helper()
	r, err := compose.Compose(c.PolicyInput())
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	return r.Policy
}

func TestPolicy(t *testing.T) {
	c := mustParse(t, `
interfaces: [eth0]
deny: [192.0.2.66, {cidr: "2001:db8:bad::/48", comment: x}]
services:
  - name: imap
    countries: [DE]
    allow: &office [198.51.100.0/24]
  - name: admin
    allow: *office
  - name: pop3
    enabled: false
  - name: smtp
  - name: web
    protocols: [tcp, udp]
    ports: [443]
    destinations: [203.0.113.80/32]
`)
	in := c.PolicyInput()
	// Every protected service gets an id, the disabled pop3 too; smtp is
	// never filtered and has none.
	var names []string
	for _, s := range in.Services {
		names = append(names, s.Name)
		if s.Disabled != (s.Name == "pop3") {
			t.Errorf("service %s: Disabled = %v", s.Name, s.Disabled)
		}
	}
	if diff := cmp.Diff([]string{"imap", "admin", "pop3", "web"}, names); diff != "" {
		t.Errorf("services of the policy input (-want +got):\n%s", diff)
	}
	in.State.ServiceIDs = map[string]uint8{"imap": 7, "admin": 1, "web": 2, "pop3": 3}
	r, err := compose.Compose(in)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Policy
	office := []netip.Prefix{pfx("198.51.100.0/24")}
	want := &policy.Policy{
		Deny: []netip.Prefix{pfx("192.0.2.66/32"), pfx("2001:db8:bad::/48")},
		Services: []policy.Service{
			{ID: 7, Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{143, 993}, Allow: office, Countries: []string{"DE"}, Geofenced: true},
			{ID: 1, Name: "admin", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{9443}, Allow: office},
			{ID: 2, Name: "web", Protocols: []policy.Proto{policy.TCP, policy.UDP}, Ports: []uint16{443}, Destinations: []netip.Prefix{pfx("203.0.113.80/32")}},
		},
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The policy owns its slices.
	got.Services[0].Ports[0] = 1
	if c.Services[0].Ports[0] != 143 {
		t.Error("the policy shares slices with the Config")
	}
	m := r.Model
	src := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		port uint16
		want policy.Verdict
	}{
		{9443, policy.Verdict{Action: policy.Pass, Reason: policy.ReasonAllowlist, Service: 1}},
		{110, policy.Verdict{Action: policy.Pass, Reason: policy.ReasonUntouched}}, // pop3 disabled
		{25, policy.Verdict{Action: policy.Pass, Reason: policy.ReasonUntouched}},  // smtp never filtered
	} {
		if got := m.JudgeFlow(src, netip.MustParseAddr("203.0.113.1"), policy.TCP, tc.port); got != tc.want {
			t.Errorf("port %d: got %v, want %v", tc.port, got, tc.want)
		}
	}

}

// TestTooManyServices: the 64th service that needs an id is refused at
// parse time, where the operator can see which one.
func TestTooManyServices(t *testing.T) {
	var b strings.Builder
	b.WriteString("interfaces: [eth0]\nservices:\n  - name: smtp\n")
	for i := range 64 {
		b.WriteString("  - {name: s" + strconv.Itoa(i) + ", ports: [" + strconv.Itoa(1000+i) + "], enabled: false}\n")
	}
	_, err := Parse("enforcer.yaml", []byte(b.String()))
	want := "enforcer.yaml:67:5: services[64]: more than 63 services besides smtp (enabled or not); the datapath numbers them 1..63: remove or merge some"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// 63 plus smtp fit, and get ids.
	b.Reset()
	b.WriteString("interfaces: [eth0]\nservices:\n  - name: smtp\n")
	for i := range 63 {
		b.WriteString("  - {name: s" + strconv.Itoa(i) + ", ports: [" + strconv.Itoa(1000+i) + "]}\n")
	}
	c := mustParse(t, b.String())
	if _, err := compose.Compose(c.PolicyInput()); err != nil {
		t.Fatal(err)
	}
}

func TestDestinationLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("interfaces: [eth0]\nservices:\n  - name: web\n    protocols: [tcp, udp]\n    ports: [443, 8443]\n    destinations:\n")
	for i := range 1025 {
		b.WriteString("      - 10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + "\n")
	}
	_, err := Parse("enforcer.yaml", []byte(b.String()))
	want := "enforcer.yaml:2:1: services: 4100 destination entries (protocols x ports x destinations of enabled services); the datapath holds 4096: use fewer, shorter destination prefixes"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
