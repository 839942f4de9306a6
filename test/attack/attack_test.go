package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// tinyScenario is the harness's scenario over a small table.
func tinyScenario(tb testing.TB) *scenario {
	tb.Helper()
	sc, err := buildScenario(geodata.Generate(3, 3000, 3000), labAllow, 96, 32, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

func TestScenarioSourcesAreDropped(t *testing.T) {
	sc := tinyScenario(t)
	if got := len(sc.Attack); got != 128 {
		t.Fatalf("%d attack sources, want 128", got)
	}
	if c := sc.Countries(); c < 20 {
		t.Errorf("attack sources in %d countries, want them spread over many", c)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for i, s := range sc.Attack {
		dst := proAddr4
		if s.Addr.Is6() {
			dst = proAddr6
		}
		for _, f := range []frameSpec{
			{srcMAC: mac, dstMAC: mac, src: s.Addr, dst: dst, proto: 6, srcPort: 40000 + uint16(i), dstPort: imapsPort, seq: 7},
			{srcMAC: mac, dstMAC: mac, src: s.Addr, dst: dst, proto: 17, srcPort: 40000 + uint16(i), dstPort: quicPort},
		} {
			frame := f.build()
			if v := sc.Model.Judge(frame); v.Action != policy.Drop {
				t.Errorf("source %v (%q), proto %d: judged %v, want a drop", s.Addr, s.Country, f.proto, v)
			}
			checkFrame(t, frame)
		}
	}
	for _, src := range []netip.Addr{cliAddr4, sc.GeoClient} {
		if v := sc.Model.JudgeFlow(src, proAddr4, policy.TCP, imapsPort); v.Action != policy.Pass {
			t.Errorf("legitimate client source %v judged %v, want a pass", src, v)
		}
	}
}

// checkFrame verifies a frame's length and its IP and L4 checksums.
func checkFrame(t *testing.T, b []byte) {
	t.Helper()
	et := binary.BigEndian.Uint16(b[12:])
	var pseudo, l4 []byte
	var proto uint8
	switch et {
	case 0x0800:
		if len(b) != frameLen4 {
			t.Fatalf("IPv4 frame of %d bytes, want %d", len(b), frameLen4)
		}
		ip := b[14:34]
		if c := checksum(0, ip); c != 0 {
			t.Errorf("IPv4 header checksum does not verify (%#x)", c)
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		proto = ip[9]
		l4 = b[34 : 14+total]
		pseudo = append(append([]byte{}, ip[12:20]...), 0, proto, byte(len(l4)>>8), byte(len(l4)))
	case 0x86dd:
		if len(b) != frameLen6 {
			t.Fatalf("IPv6 frame of %d bytes, want %d", len(b), frameLen6)
		}
		ip := b[14:54]
		proto = ip[6]
		l4 = b[54:]
		pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, proto)
	default:
		t.Fatalf("ethertype %#x", et)
	}
	if c := checksum(sum(0, pseudo), l4); c != 0 {
		t.Errorf("protocol %d checksum does not verify (%#x)", proto, c)
	}
}

func TestAggregate(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name     string
		in, want []netip.Prefix
	}{
		{"adjacent halves", pp("10.0.0.0/25", "10.0.0.128/25"), pp("10.0.0.0/24")},
		{"nested", pp("10.0.0.0/16", "10.0.3.0/24"), pp("10.0.0.0/16")},
		{"unaligned run", pp("10.0.1.0/24", "10.0.2.0/24"), pp("10.0.1.0/24", "10.0.2.0/24")},
		{"run of three", pp("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"), pp("10.0.0.0/23", "10.0.2.0/24")},
		{"unsorted, gap", pp("10.0.4.0/24", "10.0.0.0/24"), pp("10.0.0.0/24", "10.0.4.0/24")},
		{"whole space", pp("0.0.0.0/1", "128.0.0.0/1"), pp("0.0.0.0/0")},
		{"ipv6", pp("2001:db8::/33", "2001:db8:8000::/33", "2001:db9::/48"), pp("2001:db8::/32", "2001:db9::/48")},
		{"ipv6 top", pp("ffff::/16", "fffe::/16"), pp("fffe::/15")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregate(tc.in)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("aggregate(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestAggregateCovers checks on a generated table that aggregation keeps
// exactly the same addresses, in fewer prefixes.
func TestAggregateCovers(t *testing.T) {
	nets := geodata.Generate(5, 4000, 4000)
	r := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		var in []netip.Prefix
		for _, n := range nets {
			if n.Prefix.Addr().Is6() == v6 && n.Country == "DE" {
				in = append(in, n.Prefix)
			}
		}
		out := aggregate(in)
		if len(out) == 0 || len(out) >= len(in) {
			t.Errorf("v6=%v: %d prefixes aggregated into %d", v6, len(in), len(out))
		}
		contains := func(ps []netip.Prefix, a netip.Addr) bool {
			for _, p := range ps {
				if p.Contains(a) {
					return true
				}
			}
			return false
		}
		for range 2000 {
			// Inside an input network, at its edges, and just past them.
			p := in[r.IntN(len(in))]
			for _, a := range []netip.Addr{geodata.RandomAddr(r, p), p.Addr(), geodata.LastAddr(p), geodata.LastAddr(p).Next(), p.Addr().Prev()} {
				if !a.IsValid() {
					continue
				}
				if contains(in, a) != contains(out, a) {
					t.Fatalf("v6=%v: %v is in the input: %v, in the aggregate: %v", v6, a, contains(in, a), contains(out, a))
				}
			}
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("0,250k,1M,1.5M,max")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0, 250e3, 1e6, 1.5e6, unpaced}, got); diff != "" {
		t.Errorf("parseRates (-want +got):\n%s", diff)
	}
	var labels []string
	for _, r := range got {
		labels = append(labels, rateLabel(r))
	}
	if diff := cmp.Diff([]string{"0", "250k", "1M", "1500k", "max"}, labels); diff != "" {
		t.Errorf("rateLabel (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "fast", "-1", "1G"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

func TestParseIptablesDrops(t *testing.T) {
	out := "*raw\n:PREROUTING ACCEPT [9:999]\n:enf-guard - [0:0]\n" +
		"[12:720] -A PREROUTING -p tcp -m tcp --dport 993 -j enf-guard\n" +
		"[3:180] -A enf-guard -m set --match-set enf-geo4 src -j RETURN\n" +
		"[1234567:74074020] -A enf-guard -j DROP\nCOMMIT\n"
	n, err := parseIptablesDrops(out, iptChain)
	if err != nil || n != 1234567 {
		t.Errorf("parseIptablesDrops = %d, %v; want 1234567", n, err)
	}
	if _, err := parseIptablesDrops("*raw\nCOMMIT\n", iptChain); err == nil {
		t.Error("no DROP rule: want an error")
	}
}

func TestHistQuantile(t *testing.T) {
	var h [histBuckets]uint64
	for range 99 {
		h[histBucket(100*time.Microsecond)]++
	}
	h[histBucket(300*time.Millisecond)]++
	if p50 := histQuantile(h, 0.5); p50 < 100*time.Microsecond || p50 > 115*time.Microsecond {
		t.Errorf("p50 = %v, want just above 100µs", p50)
	}
	if p99 := histQuantile(h, 0.99); p99 > 115*time.Microsecond {
		t.Errorf("p99 = %v, want just above 100µs (99 of 100 there)", p99)
	}
	if max := histQuantile(h, 1); max < 300*time.Millisecond || max > 400*time.Millisecond {
		t.Errorf("p100 = %v, want just above 300ms", max)
	}
}

// TestRulesLoad loads the generated nftables ruleset, ipset sets and
// iptables rules for a small table into a throwaway namespace with the
// real tools, and reads their drop counters the way the harness does.
func TestRulesLoad(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "ip", "nft", "ipset", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save")
	sc := tinyScenario(t)
	ns := netns.MustNew(t, "rules")
	peer := netns.MustNew(t, "peer")
	netns.MustVeth(t, ns, "pro0", peer, "x0")
	dir := t.TempDir()

	path := filepath.Join(dir, "policy.nft")
	if err := writeFile(path, func(w *bufio.Writer) error { return sc.writeNft(w, "pro0") }); err != nil {
		t.Fatal(err)
	}
	if err := nsRun(ns.Name(), "nft", "-f", path); err != nil {
		t.Fatal(err)
	}
	if n, err := nftCounter(ns, unix.NFPROTO_NETDEV, nftTable, "dropped"); err != nil || n != 0 {
		t.Errorf("nft drop counter = %d, %v; want 0", n, err)
	}
	list, err := nsOutput(ns.Name(), "nft", "list", "set", "netdev", nftTable, "geo4")
	if err != nil {
		t.Fatal(err)
	}
	// A prefix of the set is in it, as an interval or merged into one.
	probe := sc.Geo4[len(sc.Geo4)/2]
	if !strings.Contains(list, probe.Addr().String()) {
		t.Errorf("nft set geo4 does not mention %v", probe.Addr())
	}

	var sets bytes.Buffer
	if err := sc.writeIpset(&sets); err != nil {
		t.Fatal(err)
	}
	if err := nsRunCtx(t.Context(), ns.Name(), &sets, "ipset", "restore", "-exist"); err != nil {
		t.Fatal(err)
	}
	for _, v6 := range []bool{false, true} {
		var rules bytes.Buffer
		if err := sc.writeIptables(&rules, v6); err != nil {
			t.Fatal(err)
		}
		tool, save := "iptables-restore", "iptables-save"
		if v6 {
			tool, save = "ip6tables-restore", "ip6tables-save"
		}
		if err := nsRunCtx(t.Context(), ns.Name(), &rules, tool); err != nil {
			t.Fatal(err)
		}
		out, err := nsOutput(ns.Name(), save, "-c", "-t", "raw")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := parseIptablesDrops(out, iptChain); err != nil || n != 0 {
			t.Errorf("%s: drops = %d, %v; want 0", save, n, err)
		}
	}
	out, err := nsOutput(ns.Name(), "ipset", "test", setGeo4, probe.Addr().String())
	if err != nil {
		t.Errorf("ipset test %s %v: %v %s", setGeo4, probe.Addr(), err, out)
	}
	if _, err := nsOutput(ns.Name(), "ipset", "test", setGeo4, sc.Attack[0].Addr.String()); err == nil && sc.Attack[0].Addr.Is4() {
		t.Errorf("ipset %s contains attack source %v", setGeo4, sc.Attack[0].Addr)
	}
}

// TestLab builds the lab, sends a paced flood through the generator into
// the protected veth and checks it arrives and the rate holds, then closes
// the lab and checks nothing of it is left.
func TestLab(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "ip", "ethtool")
	sc := tinyScenario(t)
	l, err := newLab(sc.GeoClient)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close()
		}
	})
	names := []string{l.gen.Name(), l.cli.Name(), l.pro.Name()}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(netns.NamedDir, n)); err != nil {
			t.Fatalf("namespace %s: %v", n, err)
		}
	}

	var frames [][]byte
	for i, s := range sc.Attack {
		dst := proAddr4
		if s.Addr.Is6() {
			dst = proAddr6
		}
		f := frameSpec{srcMAC: l.genMAC, dstMAC: l.proMAC, src: s.Addr, dst: dst, proto: 17, srcPort: 1000 + uint16(i), dstPort: quicPort}
		frames = append(frames, f.build())
	}
	var g *generator
	if err := l.gen.Do(func() (err error) { g, err = newGenerator(frames, l.genIndex); return err }); err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rx0, full0, err := l.linkStats()
	if err != nil {
		t.Fatal(err)
	}
	txDrop0, err := l.genTxDropped()
	if err != nil {
		t.Fatal(err)
	}
	const rate, limit = 20000.0, 10000
	if err := g.setRate(rate, limit); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := g.run(t.Context(), l.gen.Do, 0); err != nil {
		t.Fatal(err)
	}
	el := time.Since(t0)
	sent, err := g.Sent()
	if err != nil {
		t.Fatal(err)
	}
	if sent != limit {
		t.Errorf("generator sent %d packets, want %d (count limit)", sent, limit)
	}
	// Paced at 20k/s, 10k packets take half a second, not much less.
	if el < 350*time.Millisecond {
		t.Errorf("10000 packets at 20000/s took %v, want about 500ms", el)
	}
	// Every frame sent must reach the protected veth: taken into its ring
	// (rx) or refused because the ring was full (a busy shared machine can
	// starve the receiving NAPI thread for a moment). None may vanish.
	var rx, full, txDrop uint64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if rx, full, err = l.linkStats(); err != nil {
			t.Fatal(err)
		}
		if txDrop, err = l.genTxDropped(); err != nil {
			t.Fatal(err)
		}
		full += txDrop - txDrop0
		if (rx-rx0)+(full-full0) >= sent {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := (rx - rx0) + (full - full0); got < sent { // neighbour discovery may add a few
		t.Errorf("the protected veth accounted for %d of %d frames (%d received, %d refused with its ring full)", got, sent, rx-rx0, full-full0)
	}
	if rx-rx0 < sent/2 {
		t.Errorf("the protected veth received only %d of %d frames at 20000/s", rx-rx0, sent)
	}
	t.Logf("%d frames sent: %d received, %d refused with the ring full", sent, rx-rx0, full-full0)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(netns.NamedDir, n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still there after Close: %v", n, err)
		}
	}
	if _, err := os.Stat(l.pinDir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Close: %v", l.pinDir, err)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), l.pro.Name()) {
		t.Errorf("ip netns list still shows %s", l.pro.Name())
	}
}
