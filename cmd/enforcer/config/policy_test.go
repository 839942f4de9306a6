package config

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

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
	ids := map[string]uint8{"imap": 7, "admin": 1, "web": 2, "pop3": 3}
	got, err := c.Policy(ids)
	if err != nil {
		t.Fatal(err)
	}
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
		t.Error("Policy shares slices with the Config")
	}

	m, err := policy.NewModel(got)
	if err != nil {
		t.Fatal(err)
	}
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

	delete(ids, "web")
	if _, err := c.Policy(ids); err == nil || !strings.Contains(err.Error(), `service "web" has no datapath id`) {
		t.Errorf("missing id: got %v", err)
	}
	ids["web"] = 7
	if _, err := c.Policy(ids); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("duplicate id: got %v", err)
	}
}

func TestAssignIDs(t *testing.T) {
	many := func(n int) []string {
		var names []string
		for i := range n {
			names = append(names, "s"+string(rune('a'+i/26))+string(rune('a'+i%26)))
		}
		return names
	}
	for _, tc := range []struct {
		name     string
		existing map[string]uint8
		names    []string
		want     map[string]uint8
		err      string
	}{
		{name: "fresh", names: []string{"imap", "pop3", "admin"},
			want: map[string]uint8{"imap": 1, "pop3": 2, "admin": 3}},
		{name: "kept, new names below retired ones", existing: map[string]uint8{"imap": 2, "old": 1, "pop3": 5},
			names: []string{"new1", "pop3", "imap", "new2", "new3"},
			want:  map[string]uint8{"old": 1, "imap": 2, "pop3": 5, "new1": 3, "new2": 4, "new3": 6}},
		{name: "repeated names", names: []string{"a", "a"}, want: map[string]uint8{"a": 1}},
		{name: "63 fit", names: many(63), want: func() map[string]uint8 {
			m := map[string]uint8{}
			for i, n := range many(63) {
				m[n] = uint8(i + 1)
			}
			return m
		}()},
		{name: "retired ids reclaimed lowest first when none is free",
			existing: func() map[string]uint8 {
				m := map[string]uint8{}
				for i, n := range many(63) {
					m[n] = uint8(i + 1)
				}
				return m
			}(),
			names: append(slices.Delete(many(63), 4, 6), "x", "y"),
			want: func() map[string]uint8 {
				m := map[string]uint8{}
				for i, n := range many(63) {
					m[n] = uint8(i + 1)
				}
				delete(m, many(63)[4])
				delete(m, many(63)[5])
				m["x"], m["y"] = 5, 6
				return m
			}()},
		{name: "64 do not", names: many(64), err: "64 services are more than the datapath's 63 service ids"},
		{name: "stored id out of range", existing: map[string]uint8{"x": 64}, err: `service "x": stored id 64 out of range 1..63`},
		{name: "stored id zero", existing: map[string]uint8{"x": 0}, err: `service "x": stored id 0 out of range 1..63`},
		{name: "stored id twice", existing: map[string]uint8{"x": 3, "y": 3}, err: `services "x" and "y": both stored with id 3`},
		{name: "empty name", names: []string{""}, err: "service with an empty name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AssignIDs(tc.existing, tc.names)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want error %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
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
	ids, err := AssignIDs(nil, c.IDNames())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Policy(ids); err != nil {
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
