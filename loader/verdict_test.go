package loader

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/frames"
	"github.com/mailgate/enforcer/test/testenv"
)

const (
	xdpDrop = 1
	xdpPass = 2
)

var pfx = netip.MustParsePrefix

// testPolicy exercises every kind of rule.
func testPolicy() *policy.Policy {
	return &policy.Policy{
		Services: []policy.Service{
			{ID: 1, Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{143, 993}, Geofenced: true,
				Countries: []string{"DE", "FR"}, Allow: []netip.Prefix{pfx("192.0.2.0/24"), pfx("2001:db8:a::/48")}},
			{ID: 2, Name: "webmail", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{443}, Geofenced: true,
				Countries: []string{"US"}, Destinations: []netip.Prefix{pfx("10.0.0.80/32"), pfx("2001:db8:f::80/128")}},
			{ID: 3, Name: "admin", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{8443},
				Allow: []netip.Prefix{pfx("192.0.2.10/32")}},
			{ID: 4, Name: "quic", Protocols: []policy.Proto{policy.UDP}, Ports: []uint16{443}, Geofenced: true,
				Countries: []string{"DE"}},
		},
		Deny: []netip.Prefix{pfx("198.51.100.66/32"), pfx("192.0.2.66/32"), pfx("2001:db8:bad::/48")},
		Networks: []policy.Network{
			{Prefix: pfx("198.51.100.0/24"), Country: "DE"},
			{Prefix: pfx("198.51.100.128/25"), Country: ""},
			{Prefix: pfx("203.0.113.0/24"), Country: "CN"},
			{Prefix: pfx("100.64.0.0/16"), Country: "US"},
			{Prefix: pfx("2001:db8:de::/48"), Country: "DE"},
			{Prefix: pfx("2001:db8:c0::/48"), Country: "CN"},
			{Prefix: pfx("2001:db8:bad::/48"), Country: "DE"},
		},
	}
}

func mustLoad(tb testing.TB) *Datapath {
	tb.Helper()
	testenv.RequireRoot(tb)
	d, err := Load(Options{})
	if err != nil {
		tb.Fatalf("Load: %+v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func mustApply(tb testing.TB, d *Datapath, p *policy.Policy) *policy.Model {
	tb.Helper()
	if err := d.Apply(p); err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	m, err := policy.NewModel(p)
	if err != nil {
		tb.Fatalf("NewModel: %v", err)
	}
	return m
}

func mustRun(tb testing.TB, prog *ebpf.Program, frame []byte) uint32 {
	tb.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("run program on %d-byte frame: %v", len(frame), err)
	}
	return ret
}

func mustCounters(tb testing.TB, d *Datapath) Counters {
	tb.Helper()
	c, err := d.Counters()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// delta is what changed between two counter readings, in packets.
func delta(before, after Counters) (map[CounterKey]uint64, map[string]uint64) {
	v, c := map[CounterKey]uint64{}, map[string]uint64{}
	for k, a := range after.Verdicts {
		if n := a.Packets - before.Verdicts[k].Packets; n != 0 {
			v[k] = n
		}
	}
	for k, a := range after.CountryDrops {
		if n := a.Packets - before.CountryDrops[k].Packets; n != 0 {
			c[k] = n
		}
	}
	return v, c
}

var (
	a4      = netip.MustParseAddr
	de4     = a4("198.51.100.7")
	cn4     = a4("203.0.113.9")
	us4     = a4("100.64.1.1")
	none4   = a4("198.51.100.200")
	allow4  = a4("192.0.2.5")
	server4 = a4("10.0.0.80")
	de6     = a4("2001:db8:de::1")
	cn6     = a4("2001:db8:c0::1")
	server6 = a4("2001:db8:f::80")
)

type verdictCase struct {
	name    string
	frame   []byte
	action  policy.Action
	reason  policy.Reason
	service uint8
	country string // country counted for a drop (drops by deny, no-country, not-in-set)
}

func tcp(src, dst netip.Addr, port uint16) frames.Packet {
	return frames.Packet{Src: src, Dst: dst, Proto: 6, SrcPort: 40000, DstPort: port}
}

func udp(src, dst netip.Addr, port uint16) frames.Packet {
	return frames.Packet{Src: src, Dst: dst, Proto: 17, SrcPort: 40000, DstPort: port, Payload: []byte("hello")}
}

func with(p frames.Packet, f func(*frames.Packet)) []byte {
	f(&p)
	return p.Build()
}

func exts(protos ...uint8) []frames.Ext {
	var e []frames.Ext
	for _, p := range protos {
		e = append(e, frames.Ext{Proto: p})
	}
	return e
}

func verdictCases() []verdictCase {
	const (
		pass = policy.Pass
		drop = policy.Drop
		u    = policy.ReasonUntouched
	)
	dst := a4("10.0.0.1")
	dst6 := a4("2001:db8:1::1")
	return []verdictCase{
		// IPv4, TCP: every rule.
		{"v4 allowlisted", tcp(allow4, dst, 993).Build(), pass, policy.ReasonAllowlist, 1, ""},
		{"v4 allowed country", tcp(de4, dst, 993).Build(), pass, policy.ReasonCountry, 1, ""},
		{"v4 second port of service", tcp(de4, dst, 143).Build(), pass, policy.ReasonCountry, 1, ""},
		{"v4 disallowed country", tcp(cn4, dst, 993).Build(), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v4 no country", tcp(none4, dst, 993).Build(), drop, policy.ReasonNoCountry, 1, ""},
		{"v4 unknown source", tcp(a4("8.8.8.8"), dst, 993).Build(), drop, policy.ReasonNoCountry, 1, ""},
		{"v4 denied", tcp(a4("198.51.100.66"), dst, 993).Build(), drop, policy.ReasonDeny, 1, "DE"},
		{"v4 deny over allow", tcp(a4("192.0.2.66"), dst, 993).Build(), drop, policy.ReasonDeny, 1, ""},
		{"v4 unprotected port", tcp(cn4, dst, 25).Build(), pass, u, 0, ""},
		{"v4 return traffic to ephemeral port", with(tcp(cn4, dst, 40001), func(p *frames.Packet) { p.SrcPort = 993 }), pass, u, 0, ""},
		{"v4 not geofenced, allowlisted", tcp(a4("192.0.2.10"), dst, 8443).Build(), pass, policy.ReasonAllowlist, 3, ""},
		{"v4 not geofenced, other source", tcp(de4, dst, 8443).Build(), drop, policy.ReasonNotInSet, 3, "DE"},
		{"v4 allowlisted for another service only", tcp(allow4, dst, 8443).Build(), drop, policy.ReasonNotInSet, 3, ""},
		// UDP.
		{"v4 udp allowed country", udp(de4, dst, 443).Build(), pass, policy.ReasonCountry, 4, ""},
		{"v4 udp disallowed country", udp(cn4, dst, 443).Build(), drop, policy.ReasonNotInSet, 4, "CN"},
		{"v4 udp unprotected", udp(cn4, dst, 53).Build(), pass, u, 0, ""},
		// Destination-limited service.
		{"v4 dest-limited allowed", tcp(us4, server4, 443).Build(), pass, policy.ReasonCountry, 2, ""},
		{"v4 dest-limited disallowed", tcp(de4, server4, 443).Build(), drop, policy.ReasonNotInSet, 2, "DE"},
		{"v4 other destination on dest-limited port", tcp(de4, a4("10.0.0.81"), 443).Build(), pass, u, 0, ""},
		{"v6 dest-limited allowed", tcp(a4("::ffff:100.64.1.1"), server6, 443).Build(), pass, policy.ReasonCountry, 2, ""},
		{"v6 dest-limited disallowed", tcp(cn6, server6, 443).Build(), drop, policy.ReasonNotInSet, 2, "CN"},
		// VLANs and IPv4 options.
		{"v4 one vlan tag", with(tcp(cn4, dst, 993), func(p *frames.Packet) { p.VLANs = []uint16{0x8100} }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v4 two vlan tags", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x8100} }), pass, policy.ReasonCountry, 1, ""},
		{"v6 two vlan tags", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x8100} }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v4 three vlan tags", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x8100, 0x8100} }), drop, policy.ReasonMalformed, 0, ""},
		{"v4 three priority tags", with(tcp(de4, dst, 993), func(p *frames.Packet) {
			p.VLANs, p.TCIs = []uint16{0x8100, 0x8100, 0x8100}, []uint16{0, 0, 0}
		}), drop, policy.ReasonMalformed, 0, ""},
		{"v4 three vlan tags to an unprotected port", with(tcp(cn4, dst, 25), func(p *frames.Packet) { p.VLANs = []uint16{0x8100, 0x88a8, 0x88a8} }), drop, policy.ReasonMalformed, 0, ""},
		{"v6 four vlan tags", with(udp(de6, dst6, 443), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x88a8, 0x8100, 0x8100} }), drop, policy.ReasonMalformed, 0, ""},
		{"arp behind three vlan tags", func() []byte {
			a := frames.ARP()
			tags := []byte{0x81, 0x00, 0, 0, 0x81, 0x00, 0, 0, 0x81, 0x00, 0, 0}
			return append(append(append([]byte{}, a[:12]...), tags...), a[12:]...)
		}(), drop, policy.ReasonMalformed, 0, ""},
		{"v4 two tags then 802.1Q legacy QinQ 0x9100", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x8100, 0x9100} }), pass, u, 0, ""},
		{"v4 options 8 bytes", with(tcp(cn4, dst, 993), func(p *frames.Packet) { p.IPOptions = 8 }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v4 options 40 bytes", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.IPOptions = 40 }), pass, policy.ReasonCountry, 1, ""},
		// IPv6.
		{"v6 allowed country", tcp(de6, dst6, 993).Build(), pass, policy.ReasonCountry, 1, ""},
		{"v6 disallowed country", tcp(cn6, dst6, 993).Build(), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 allowlisted", tcp(a4("2001:db8:a::5"), dst6, 993).Build(), pass, policy.ReasonAllowlist, 1, ""},
		{"v6 denied", tcp(a4("2001:db8:bad::1"), dst6, 993).Build(), drop, policy.ReasonDeny, 1, "DE"},
		{"v6 no country", tcp(a4("2001:db8:99::1"), dst6, 993).Build(), drop, policy.ReasonNoCountry, 1, ""},
		{"v6 udp", udp(de6, dst6, 443).Build(), pass, policy.ReasonCountry, 4, ""},
		{"v4-mapped v6 source judged as IPv4", tcp(a4("::ffff:198.51.100.7"), dst6, 993).Build(), pass, policy.ReasonCountry, 1, ""},
		{"v6 hop-by-hop", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(0) }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 routing", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(43) }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 destination options", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(60) }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 authentication header", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(51) }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 atomic fragment", with(tcp(de6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(44) }), pass, policy.ReasonCountry, 1, ""},
		{"v6 long option header", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = []frames.Ext{{Proto: 60, Len: 2048}} }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 chain at the bound", with(tcp(de6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(0, 60, 43, 60, 51, 60, 44, 60) }), pass, policy.ReasonCountry, 1, ""},
		{"v6 chain past the bound", with(tcp(de6, dst6, 993), func(p *frames.Packet) { p.Exts = exts(0, 60, 43, 60, 51, 60, 44, 60, 60) }), drop, policy.ReasonMalformed, 0, ""},
		{"v6 icmp after a chain past the bound", with(frames.Packet{Src: cn6, Dst: dst6, Proto: 58}, func(p *frames.Packet) { p.Exts = exts(60, 60, 60, 60, 60, 60, 60, 60) }), pass, u, 0, ""},
		// Fragments.
		{"v4 first fragment judged", with(tcp(cn4, dst, 993), func(p *frames.Packet) { p.More = true }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v4 first fragment allowed", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.More = true }), pass, policy.ReasonCountry, 1, ""},
		{"v4 first fragment with ports only", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.More = true; p.L4Len = 4 }), pass, policy.ReasonCountry, 1, ""},
		{"v4 tiny first fragment", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.More = true; p.L4Len = 3 }), drop, policy.ReasonFragment, 0, ""},
		{"v4 later fragment", with(tcp(cn4, dst, 993), func(p *frames.Packet) { p.FragOff = 185 }), pass, policy.ReasonFragment, 0, ""},
		{"v4 last fragment", with(udp(cn4, dst, 443), func(p *frames.Packet) { p.FragOff = 1 }), pass, policy.ReasonFragment, 0, ""},
		{"v6 first fragment judged", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = []frames.Ext{{Proto: 44, More: true}} }), drop, policy.ReasonNotInSet, 1, "CN"},
		{"v6 tiny first fragment", with(tcp(de6, dst6, 993), func(p *frames.Packet) { p.Exts = []frames.Ext{{Proto: 44, More: true}}; p.L4Len = 2 }), drop, policy.ReasonFragment, 0, ""},
		{"v6 first fragment cut in the chain", with(tcp(de6, dst6, 993), func(p *frames.Packet) {
			p.Exts = []frames.Ext{{Proto: 44, More: true}, {Proto: 60, Len: 16}}
		})[:14+40+8+8], drop, policy.ReasonMalformed, 0, ""},
		{"v6 later fragment", with(tcp(cn6, dst6, 993), func(p *frames.Packet) { p.Exts = []frames.Ext{{Proto: 44, FragOff: 100}} }), pass, policy.ReasonFragment, 0, ""},
		// Malformed on a protected path.
		{"v4 tcp header cut after the ports", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.L4Len = 10 }), drop, policy.ReasonMalformed, 1, ""},
		{"v4 tcp data offset too small", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.TCPDataOff = 3 }), drop, policy.ReasonMalformed, 1, ""},
		{"v4 tcp data offset past the end", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.TCPDataOff = 15 }), drop, policy.ReasonMalformed, 1, ""},
		{"v4 udp header cut", with(udp(de4, dst, 443), func(p *frames.Packet) { p.L4Len = 6; p.Payload = nil }), drop, policy.ReasonMalformed, 4, ""},
		{"v4 tcp cut before the ports", with(tcp(de4, dst, 993), func(p *frames.Packet) { p.L4Len = 2 }), drop, policy.ReasonMalformed, 0, ""},
		{"v4 unprotected tcp cut after the ports", with(tcp(de4, dst, 25), func(p *frames.Packet) { p.L4Len = 10 }), pass, u, 0, ""},
		{"v6 tcp header cut after the ports", with(tcp(de6, dst6, 993), func(p *frames.Packet) { p.L4Len = 10 }), drop, policy.ReasonMalformed, 1, ""},
		// Not ours.
		{"arp", frames.ARP(), pass, u, 0, ""},
		{"icmp", frames.Packet{Src: cn4, Dst: dst, Proto: 1}.Build(), pass, u, 0, ""},
		{"icmpv6 neighbour solicitation", frames.Packet{Src: cn6, Dst: dst6, Proto: 58}.Build(), pass, u, 0, ""},
	}
}

func TestVerdicts(t *testing.T) {
	d := mustLoad(t)
	m := mustApply(t, d, testPolicy())
	for _, tc := range verdictCases() {
		t.Run(tc.name, func(t *testing.T) {
			want := policy.Verdict{Action: tc.action, Reason: tc.reason, Service: tc.service}
			got := m.Judge(tc.frame)
			got.Country = ""
			if got != want {
				t.Errorf("reference model: %v, want %v", got, want)
			}
			before := mustCounters(t, d)
			ret := mustRun(t, d.Program(), tc.frame)
			wantRet := uint32(xdpPass)
			if tc.action == policy.Drop {
				wantRet = xdpDrop
			}
			if ret != wantRet {
				t.Errorf("program returned %d, want %d (%v)", ret, wantRet, tc.action)
			}
			gotV, gotC := delta(before, mustCounters(t, d))
			wantV, wantC := map[CounterKey]uint64{}, map[string]uint64{}
			if tc.reason != policy.ReasonUntouched {
				wantV[CounterKey{tc.service, tc.action, tc.reason}] = 1
			}
			if tc.action == policy.Drop && tc.reason != policy.ReasonMalformed && tc.reason != policy.ReasonFragment {
				wantC[tc.country] = 1
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("verdict counters (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantC, gotC); diff != "" {
				t.Errorf("country drop counters (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTruncation cuts frames at every length and checks the program
// against the reference model, and the header boundaries explicitly.
func TestTruncation(t *testing.T) {
	d := mustLoad(t)
	m := mustApply(t, d, testPolicy())
	for _, tc := range []struct {
		name  string
		frame []byte
		vlan  int  // bytes of the VLAN tags parsed
		over  bool // more tags than are parsed: malformed however cut
	}{
		{"v4 tcp vlan options", with(tcp(de4, a4("10.0.0.1"), 993), func(p *frames.Packet) { p.VLANs = []uint16{0x8100}; p.IPOptions = 12 }), 4, false},
		{"v6 udp two vlans and ext headers", with(udp(de6, a4("2001:db8:1::1"), 443), func(p *frames.Packet) {
			p.VLANs = []uint16{0x88a8, 0x8100}
			p.Exts = exts(0, 44, 60)
		}), 8, false},
		{"v4 tcp three vlans", with(tcp(de4, a4("10.0.0.1"), 993), func(p *frames.Packet) { p.VLANs = []uint16{0x88a8, 0x8100, 0x8100} }), 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// BPF_PROG_TEST_RUN needs a whole Ethernet header.
			for n := 14; n <= len(tc.frame); n++ {
				f := tc.frame[:n]
				want := m.Judge(f)
				ret := mustRun(t, d.Program(), f)
				if (ret == xdpDrop) != (want.Action == policy.Drop) {
					t.Errorf("cut at %d: program returned %d, model says %v", n, ret, want)
				}
				switch {
				case n < 14+tc.vlan:
					if want.Reason != policy.ReasonUntouched {
						t.Errorf("cut at %d inside the VLAN tags: %v, want untouched", n, want)
					}
				case tc.over:
					// The third tag's type is read with the second tag.
					if want != (policy.Verdict{Action: policy.Drop, Reason: policy.ReasonMalformed}) {
						t.Errorf("cut at %d past the two parsed tags: %v, want malformed drop", n, want)
					}
				case n < len(tc.frame):
					// The IP length fields no longer fit: malformed, no service.
					if want != (policy.Verdict{Action: policy.Drop, Reason: policy.ReasonMalformed}) {
						t.Errorf("cut at %d: %v, want malformed drop", n, want)
					}
				default:
					if want.Action != policy.Pass || want.Reason != policy.ReasonCountry {
						t.Errorf("whole frame: %v, want pass by country", want)
					}
				}
			}
		})
	}
}

// TestEnumsMatch holds the Go model's numbering to the C enums.
func TestEnumsMatch(t *testing.T) {
	pairs := []struct {
		c   enforcerReason
		go_ policy.Reason
	}{
		{enforcerReasonREASON_DENY, policy.ReasonDeny},
		{enforcerReasonREASON_ALLOWLIST, policy.ReasonAllowlist},
		{enforcerReasonREASON_COUNTRY, policy.ReasonCountry},
		{enforcerReasonREASON_NO_COUNTRY, policy.ReasonNoCountry},
		{enforcerReasonREASON_NOT_IN_SET, policy.ReasonNotInSet},
		{enforcerReasonREASON_MALFORMED, policy.ReasonMalformed},
		{enforcerReasonREASON_FRAGMENT, policy.ReasonFragment},
		{enforcerReasonREASON_MAX, policy.NumReasons},
	}
	for _, p := range pairs {
		if uint32(p.c) != uint32(p.go_) {
			t.Errorf("C reason %d != Go %d (%v)", p.c, p.go_, p.go_)
		}
	}
	if uint32(enforcerVerdictVERDICT_DROP) != uint32(policy.Drop) || uint32(enforcerVerdictVERDICT_PASS) != uint32(policy.Pass) {
		t.Error("verdict numbering differs between C and Go")
	}
}
