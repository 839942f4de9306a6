package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
)

// smallTable is a source table capacity for tests with few networks: the
// fixed cells and room to spare, so a switch does not copy 64 MiB.
const smallTable = srctable.HeaderCell + 1 + 4096

func mustLoadSmall(tb testing.TB) *Datapath {
	tb.Helper()
	mustLoad(tb) // root, or the CI failure
	d, err := Load(Options{TableCells: smallTable})
	if err != nil {
		tb.Fatalf("Load: %+v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// liveTables is what the maps hold for the packets: the generation the
// live source table names and that generation's service tables.
type liveTables struct {
	Gen      uint32
	Services map[uint32]enforcerService // non-zero entries by service id
	Ports    map[uint32]uint32          // non-zero entries by portIndex
	Dests    map[enforcerDestKey]uint32
}

func mustLiveTables(tb testing.TB, d *Datapath) liveTables {
	tb.Helper()
	var id ebpf.MapID
	if err := d.objs.SourceTables.Lookup(uint32(0), &id); err != nil {
		tb.Fatalf("read the outer map: %v", err)
	}
	st, err := ebpf.NewMapFromID(id)
	if err != nil {
		tb.Fatalf("open the live source table: %v", err)
	}
	defer st.Close()
	var hdr srctable.Cell
	if err := st.Lookup(uint32(srctable.HeaderCell), &hdr); err != nil {
		tb.Fatalf("read the header: %v", err)
	}
	lt := liveTables{Gen: hdr[0], Services: map[uint32]enforcerService{}, Ports: map[uint32]uint32{}, Dests: map[enforcerDestKey]uint32{}}
	for i := range uint32(maxServices) {
		var v enforcerService
		if err := d.objs.Services.Lookup(lt.Gen*maxServices+i, &v); err != nil {
			tb.Fatalf("read service %d: %v", i, err)
		}
		if v != (enforcerService{}) {
			lt.Services[i] = v
		}
	}
	keys, vals := make([]uint32, portEntries), make([]uint32, portEntries)
	cursor := new(ebpf.MapBatchCursor)
	all := make([]uint32, 0, 2*portEntries)
	for {
		n, err := d.objs.Ports.BatchLookup(cursor, keys, vals, nil)
		for i := range n {
			if keys[i]/portEntries == lt.Gen && vals[i] != 0 {
				lt.Ports[keys[i]%portEntries] = vals[i]
			}
			all = append(all, keys[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			tb.Fatalf("read ports: %v", err)
		}
	}
	if len(all) != 2*portEntries {
		tb.Fatalf("read %d port entries, want %d", len(all), 2*portEntries)
	}
	var k enforcerDestKey
	var v uint32
	it := d.objs.Dests.Iterate()
	for it.Next(&k, &v) {
		if uint32(k.Gen) == lt.Gen {
			lt.Dests[k] = v
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("read destinations: %v", err)
	}
	return lt
}

// destPolicy protects tcp/443 on n destination addresses counted from
// base, for DE; tcp/993 is protected everywhere for FR.
func destPolicy(base netip.Addr, n int) *policy.Policy {
	web := policy.Service{ID: 2, Name: "web", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{443},
		Geofenced: true, Countries: []string{"DE"}}
	a := base
	for range n {
		web.Destinations = append(web.Destinations, netip.PrefixFrom(a, 32))
		a = a.Next()
	}
	return &policy.Policy{
		Services: []policy.Service{
			{ID: 1, Name: "imaps", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, Geofenced: true, Countries: []string{"FR"}},
			web,
		},
		Networks: []policy.Network{{Prefix: pfx("198.51.100.0/24"), Country: "DE"}, {Prefix: pfx("203.0.113.0/24"), Country: "FR"}},
	}
}

// probeDests judges a packet from a DE and from a FR source to every
// destination of the policies (and one beyond) through the program and
// the model of p, and fails on any difference; it returns the verdicts.
func probeDests(t *testing.T, d *Datapath, p *policy.Policy, dsts []netip.Addr) []uint32 {
	t.Helper()
	m, err := policy.NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, dst := range dsts {
		for _, src := range []netip.Addr{a4("198.51.100.7"), a4("203.0.113.9")} {
			for _, port := range []uint16{443, 993} {
				f := tcp(src, dst, port).Build()
				got := mustRun(t, d.Program(), f)
				want := uint32(xdpPass)
				if m.Judge(f).Action == policy.Drop {
					want = xdpDrop
				}
				if got != want {
					t.Fatalf("%v -> %v port %d: program returned %d, the model of the policy in force says %d", src, dst, port, got, want)
				}
				out = append(out, got)
			}
		}
	}
	return out
}

// TestReloadAtDestinationLimit replaces MAX_DESTS destinations with as many
// others (a reload that used to run out of room half-way, leaving new
// services with old ports and destinations missing), then tries one over
// the limit, which must fail and leave exactly what was there, in the
// program's verdicts and in the maps.
func TestReloadAtDestinationLimit(t *testing.T) {
	d := mustLoadSmall(t)
	first, second := a4("10.1.0.0"), a4("10.2.0.0")
	probes := []netip.Addr{first, a4("10.1.7.255"), a4("10.1.15.255"), second, a4("10.2.8.1"), a4("10.2.15.255"), a4("10.2.16.0")}

	p1 := destPolicy(first, maxDests)
	if err := d.Apply(p1); err != nil {
		t.Fatalf("apply %d destinations: %v", maxDests, err)
	}
	probeDests(t, d, p1, probes)
	p2 := destPolicy(second, maxDests)
	if err := d.Apply(p2); err != nil {
		t.Fatalf("replace %d destinations with %d others: %v", maxDests, maxDests, err)
	}
	verdicts := probeDests(t, d, p2, probes)
	tables := mustLiveTables(t, d)
	if len(tables.Dests) != maxDests {
		t.Fatalf("live generation holds %d destinations, want %d", len(tables.Dests), maxDests)
	}

	over := destPolicy(first, maxDests+1)
	over.Services[0].Countries = []string{"CN"} // would change imaps too
	if err := d.Apply(over); !errors.Is(err, ErrTooManyDestinations) {
		t.Fatalf("apply %d destinations: %v, want ErrTooManyDestinations", maxDests+1, err)
	}
	if diff := cmp.Diff(verdicts, probeDests(t, d, p2, probes)); diff != "" {
		t.Errorf("verdicts after the failed reload (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(tables, mustLiveTables(t, d)); diff != "" {
		t.Errorf("live tables after the failed reload (-before +after):\n%s", diff)
	}

	// And back, both ways, at the limit.
	for _, p := range []*policy.Policy{p1, p2, p1} {
		if err := d.Apply(p); err != nil {
			t.Fatalf("reload at the limit: %v", err)
		}
		probeDests(t, d, p, probes)
	}
}

// TestFailedReloadKeepsPrevious makes a reload fail after it has written
// part of the service tables (the destination map has no room left) and
// after it has written all of them (the source table does not fit): both
// times the packets see exactly the previous policy, and the maps say so.
func TestFailedReloadKeepsPrevious(t *testing.T) {
	d := mustLoadSmall(t)
	probes := []netip.Addr{a4("10.1.0.0"), a4("10.1.0.9"), a4("10.3.0.0"), a4("10.3.0.9")}
	p1 := destPolicy(a4("10.1.0.0"), 10)
	if err := d.Apply(p1); err != nil {
		t.Fatal(err)
	}
	verdicts := probeDests(t, d, p1, probes)
	tables := mustLiveTables(t, d)
	p2 := destPolicy(a4("10.3.0.0"), 10)
	p2.Services[0].Ports = []uint16{993, 995}
	p2.Services[1].Countries = []string{"FR"}
	unchanged := func(what string) {
		t.Helper()
		if diff := cmp.Diff(verdicts, probeDests(t, d, p1, probes)); diff != "" {
			t.Errorf("%s: verdicts (-before +after):\n%s", what, diff)
		}
		if diff := cmp.Diff(tables, mustLiveTables(t, d)); diff != "" {
			t.Errorf("%s: live tables (-before +after):\n%s", what, diff)
		}
	}

	// Fill the destination map but for 5 entries with keys of a generation
	// the program never reads.
	var filler []enforcerDestKey
	for i := 0; len(filler) < 2*maxDests-len(tables.Dests)-5; i++ {
		k := destKey(policy.TCP, uint16(i), pfx("192.0.2.1/32"))
		k.Gen = 7
		if err := d.objs.Dests.Update(k, uint32(1), ebpf.UpdateNoExist); err != nil {
			t.Fatalf("fill the destination map: %v", err)
		}
		filler = append(filler, k)
	}
	if err := d.Apply(p2); err == nil {
		t.Fatal("apply with a full destination map succeeded")
	}
	unchanged("destination map full")
	for _, k := range filler {
		if err := d.objs.Dests.Delete(k); err != nil {
			t.Fatal(err)
		}
	}

	// A country table too large for the source table's capacity.
	big := *p2
	for i := range 8000 {
		big.Networks = append(big.Networks, policy.Network{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 26), Country: "NO"})
	}
	if bt, err := Compile(&big); err != nil || len(bt.Cells) <= smallTable {
		t.Fatalf("the big table: %v, %d cells, want more than %d", err, len(bt.Cells), smallTable)
	}
	if err := d.Apply(&big); !errors.Is(err, ErrTableFull) {
		t.Fatalf("apply a table over capacity: %v, want ErrTableFull", err)
	}
	unchanged("source table over capacity")

	if err := d.Apply(p2); err != nil {
		t.Fatalf("apply after the failures: %v", err)
	}
	probeDests(t, d, p2, probes)
}

// TestApplyUnderLoad switches between two policies over and over while
// verdicts run through the program. The policies protect the same things
// under swapped service ids, so each packet's verdict is the same under
// either; a packet that saw ports of one and services, destinations or
// allowlists (which name service ids) of the other would get another.
func TestApplyUnderLoad(t *testing.T) {
	d := mustLoadSmall(t)
	office, partner := pfx("192.0.2.0/24"), pfx("198.18.0.0/15")
	mk := func(imap, admin, web uint8) *policy.Policy {
		return &policy.Policy{
			Services: []policy.Service{
				{ID: imap, Name: "imaps", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, Geofenced: true,
					Countries: []string{"DE"}, Allow: []netip.Prefix{office}},
				{ID: admin, Name: "admin", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{8443}, Allow: []netip.Prefix{partner}},
				{ID: web, Name: "web", Protocols: []policy.Proto{policy.TCP, policy.UDP}, Ports: []uint16{443},
					Destinations: []netip.Prefix{pfx("10.0.0.80/32"), pfx("2001:db8:f::80/128")}, Geofenced: true, Countries: []string{"FR"}},
			},
			Networks: []policy.Network{{Prefix: pfx("198.51.100.0/24"), Country: "DE"}, {Prefix: pfx("203.0.113.0/24"), Country: "FR"},
				{Prefix: pfx("2001:db8:de::/48"), Country: "DE"}, {Prefix: pfx("2001:db8:f7::/48"), Country: "FR"}},
		}
	}
	pols := [2]*policy.Policy{mk(1, 2, 3), mk(3, 1, 2)}
	m0, err := policy.NewModel(pols[0])
	if err != nil {
		t.Fatal(err)
	}
	m1, err := policy.NewModel(pols[1])
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		frame []byte
		want  uint32
	}
	var probes []probe
	srcs := []netip.Addr{a4("192.0.2.5"), a4("198.18.1.1"), a4("198.51.100.7"), a4("203.0.113.9"), a4("2001:db8:de::1"), a4("2001:db8:f7::1")}
	for _, src := range srcs {
		for _, port := range []uint16{993, 8443, 443} {
			dsts := []netip.Addr{a4("10.0.0.80"), a4("10.0.0.1")}
			if src.Is6() {
				dsts = []netip.Addr{a4("2001:db8:f::80"), a4("2001:db8:1::1")}
			}
			for _, dst := range dsts {
				for _, f := range [][]byte{tcp(src, dst, port).Build(), udp(src, dst, port).Build()} {
					v0, v1 := m0.Judge(f), m1.Judge(f)
					if v0.Action != v1.Action || v0.Reason != v1.Reason {
						t.Fatalf("the two policies disagree on %v -> %v port %d: %v, %v", src, dst, port, v0, v1)
					}
					want := uint32(xdpPass)
					if v0.Action == policy.Drop {
						want = xdpDrop
					}
					probes = append(probes, probe{f, want})
				}
			}
		}
	}
	if n := len(slices.DeleteFunc(slices.Clone(probes), func(p probe) bool { return p.want == xdpDrop })); n < 8 || n == len(probes) {
		t.Fatalf("%d of %d probes pass: want both verdicts well represented", n, len(probes))
	}
	if err := d.Apply(pols[0]); err != nil {
		t.Fatal(err)
	}

	const applyCount, minApplies = 200, 40
	var stop atomic.Bool
	var applies atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Go(func() {
		for i := 1; !stop.Load() && i <= applyCount; i++ {
			if err := d.Apply(pols[i%2]); err != nil {
				errs <- fmt.Errorf("apply %d: %w", i, err)
				return
			}
			applies.Add(1)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	runs := 0
	for time.Now().Before(deadline) && applies.Load() < applyCount && runs < 50_000_000 {
		for _, p := range probes {
			if got := mustRun(t, d.Program(), p.frame); got != p.want {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("after %d runs and %d reloads: verdict %d, want %d for frame %x", runs, applies.Load(), got, p.want, p.frame)
			}
			runs++
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if applies.Load() < minApplies {
		t.Fatalf("only %d reloads happened during the verdict loop, want %d at least", applies.Load(), minApplies)
	}
	t.Logf("%d verdicts across %d reloads, all right", runs, applies.Load())
}
