package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/test/frames"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func basePolicy() *Policy {
	return &Policy{
		Services: []Service{
			{ID: 1, Name: "imap", Protocols: []Proto{TCP}, Ports: []uint16{993}, Geofenced: true, Countries: []string{"DE"},
				Allow: []netip.Prefix{pfx("192.0.2.0/24"), pfx("::ffff:203.0.113.0/120")}},
			{ID: 2, Name: "web-a", Protocols: []Proto{TCP}, Ports: []uint16{443}, Destinations: []netip.Prefix{pfx("10.0.0.0/8")}, Geofenced: true, Countries: []string{"FR"}},
			{ID: 3, Name: "web-b", Protocols: []Proto{TCP}, Ports: []uint16{443}, Destinations: []netip.Prefix{pfx("10.1.0.0/16")}},
			{ID: 4, Name: "web-any", Protocols: []Proto{TCP}, Ports: []uint16{443}},
		},
		Deny: []netip.Prefix{pfx("198.51.100.66/32")},
		Networks: []Network{
			{Prefix: pfx("198.51.100.0/24"), Country: "DE"},
			{Prefix: pfx("198.51.100.128/25"), Country: "FR"},
			{Prefix: pfx("198.51.100.192/26"), Country: ""},
		},
	}
}

func mustModel(t *testing.T, p *Policy) *Model {
	t.Helper()
	m, err := NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCountryLongestMatch(t *testing.T) {
	m := mustModel(t, basePolicy())
	for _, tc := range []struct{ ip, want string }{
		{"198.51.100.1", "DE"}, {"198.51.100.130", "FR"}, {"198.51.100.200", ""},
		{"::ffff:198.51.100.1", "DE"}, {"8.8.8.8", ""},
	} {
		if got := m.Country(addr(tc.ip)); got != tc.want {
			t.Errorf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestServiceForDestinations(t *testing.T) {
	m := mustModel(t, basePolicy())
	for _, tc := range []struct {
		dst  string
		want uint8
	}{{"10.1.2.3", 3}, {"10.2.0.1", 2}, {"192.0.2.1", 4}, {"::ffff:10.1.0.1", 3}} {
		s := m.ServiceFor(TCP, 443, addr(tc.dst))
		if s == nil || s.ID != tc.want {
			t.Errorf("ServiceFor(443, %s) = %v, want id %d", tc.dst, s, tc.want)
		}
	}
	if s := m.ServiceFor(UDP, 443, addr("10.1.2.3")); s != nil {
		t.Errorf("ServiceFor(udp/443) = %v, want none", s)
	}
}

func TestJudgeFlow(t *testing.T) {
	m := mustModel(t, basePolicy())
	dst := addr("172.16.0.1")
	for _, tc := range []struct {
		src    string
		port   uint16
		action Action
		reason Reason
	}{
		{"192.0.2.9", 993, Pass, ReasonAllowlist},
		{"203.0.113.9", 993, Pass, ReasonAllowlist}, // mapped allowlist entry is IPv4
		{"198.51.100.1", 993, Pass, ReasonCountry},
		{"198.51.100.130", 993, Drop, ReasonNotInSet},
		{"198.51.100.200", 993, Drop, ReasonNoCountry},
		{"198.51.100.66", 993, Drop, ReasonDeny},
		{"198.51.100.1", 25, Pass, ReasonUntouched},
		{"198.51.100.1", 443, Drop, ReasonNotInSet}, // web-any: not geofenced, no allowlist
	} {
		v := m.JudgeFlow(addr(tc.src), dst, TCP, tc.port)
		if v.Action != tc.action || v.Reason != tc.reason {
			t.Errorf("JudgeFlow(%s:%d) = %v, want %v %v", tc.src, tc.port, v, tc.action, tc.reason)
		}
	}
}

func TestJudgeFrames(t *testing.T) {
	m := mustModel(t, basePolicy())
	syn := frames.Packet{Src: addr("198.51.100.1"), Dst: addr("10.0.0.1"), Proto: 6, SrcPort: 5000, DstPort: 993}
	for _, tc := range []struct {
		name string
		f    func(*frames.Packet)
		want Verdict
	}{
		{"plain", func(*frames.Packet) {}, Verdict{Pass, ReasonCountry, 1, "DE"}},
		{"vlan", func(p *frames.Packet) { p.VLANs = []uint16{0x8100} }, Verdict{Pass, ReasonCountry, 1, "DE"}},
		{"later fragment", func(p *frames.Packet) { p.FragOff = 3 }, Verdict{Pass, ReasonFragment, 0, ""}},
		{"tiny first fragment", func(p *frames.Packet) { p.More = true; p.L4Len = 2 }, Verdict{Drop, ReasonFragment, 0, ""}},
		{"bad data offset", func(p *frames.Packet) { p.TCPDataOff = 2 }, Verdict{Drop, ReasonMalformed, 1, ""}},
	} {
		p := syn
		tc.f(&p)
		if got := m.Judge(p.Build()); got != tc.want {
			t.Errorf("%s: Judge = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := m.Judge([]byte{1, 2, 3}); got.Reason != ReasonUntouched {
		t.Errorf("runt frame: %v, want untouched", got)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Policy)
		want string
	}{
		{"id zero", func(p *Policy) { p.Services[0].ID = 0 }, "out of range"},
		{"id too big", func(p *Policy) { p.Services[0].ID = 64 }, "out of range"},
		{"duplicate id", func(p *Policy) { p.Services[1].ID = 1 }, `already used by service "imap"`},
		{"port clash", func(p *Policy) { p.Services[3].Ports = []uint16{993} }, `tcp port 993 already belongs to service "imap"`},
		{"destination clash", func(p *Policy) { p.Services[2].Destinations = []netip.Prefix{pfx("10.0.0.0/8")} }, `already belongs to service "web-a"`},
		{"protocol", func(p *Policy) { p.Services[0].Protocols = []Proto{1} }, "only tcp and udp"},
		{"country", func(p *Policy) { p.Services[0].Countries = []string{"de"} }, `country code "de"`},
		{"network country", func(p *Policy) { p.Networks[0].Country = "Germany" }, "ISO 3166-1"},
		{"deny prefix", func(p *Policy) { p.Deny = append(p.Deny, netip.Prefix{}) }, "deny list: invalid prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			tc.edit(p)
			err := Validate(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want error containing %q", err, tc.want)
			}
		})
	}
	if err := Validate(basePolicy()); err != nil {
		t.Fatalf("Validate(valid policy): %v", err)
	}
}

// FuzzJudge feeds arbitrary frames to the reference parser: it must never
// panic, and what it reports must be consistent.
func FuzzJudge(f *testing.F) {
	f.Add(frames.Packet{Src: addr("198.51.100.1"), Dst: addr("10.0.0.1"), Proto: 6, DstPort: 993}.Build())
	f.Add(frames.Packet{Src: addr("2001:db8::1"), Dst: addr("2001:db8::2"), Proto: 17, DstPort: 993,
		Exts: []frames.Ext{{Proto: 0}, {Proto: 44, More: true}}}.Build())
	f.Add(frames.ARP())
	m, err := NewModel(basePolicy())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		v := m.Judge(frame)
		if v.Service != 0 && m.byID[v.Service] == nil {
			t.Fatalf("verdict names unknown service %d", v.Service)
		}
		if v.Action == Drop && !v.Counted() {
			t.Fatalf("uncounted drop: %v", v)
		}
	})
}
