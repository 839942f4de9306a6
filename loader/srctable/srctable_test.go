package srctable

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mailgate/enforcer/test/geodata"
)

// naive is the obvious implementation the table must agree with.
type naive struct {
	countries map[netip.Prefix]uint16
	deny      []netip.Prefix
	allow     map[netip.Prefix]uint64
}

func (n *naive) lookup(a netip.Addr) Attr {
	a = a.Unmap()
	var at Attr
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if c, ok := n.countries[p]; ok {
			at.Country = c
			break
		}
	}
	for _, p := range n.deny {
		if p.Contains(a) {
			at.Deny = true
		}
	}
	for p, m := range n.allow {
		if p.Contains(a) {
			at.Allow |= m
		}
	}
	return at
}

func randPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		var b [16]byte
		b[0] = 0x20
		b[1] = byte(r.IntN(4))
		for i := 2; i < 16; i++ {
			b[i] = byte(r.IntN(4)) // few distinct values: plenty of overlap
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
	}
	var b [4]byte
	b[0] = 10
	for i := 1; i < 4; i++ {
		b[i] = byte(r.IntN(4))
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), r.IntN(33)).Masked()
}

func probes(p netip.Prefix) []netip.Addr {
	first, last := p.Addr(), geodata.LastAddr(p)
	out := []netip.Addr{first, last}
	if pr := first.Prev(); pr.IsValid() {
		out = append(out, pr)
	}
	if nx := last.Next(); nx.IsValid() {
		out = append(out, nx)
	}
	return out
}

func TestBuildMatchesNaive(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		var b Builder
		n := naive{countries: map[netip.Prefix]uint16{}, allow: map[netip.Prefix]uint64{}}
		var all []netip.Prefix
		for i := 0; i < 60; i++ {
			p := randPrefix(r, r.IntN(2) == 0)
			all = append(all, p)
			switch r.IntN(4) {
			case 0, 1:
				if _, dup := n.countries[p]; dup {
					continue // duplicates of one prefix: last one would win; keep inputs unambiguous
				}
				cc := geodata.Countries[r.IntN(len(geodata.Countries))]
				b.SetCountry(p, cc)
				n.countries[p], _ = CountryID(cc)
			case 2:
				b.Deny(p)
				n.deny = append(n.deny, p)
			case 3:
				svc := uint8(1 + r.IntN(MaxServices-1))
				b.Allow(p, svc)
				n.allow[p] |= 1 << svc
			}
		}
		tbl, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		check := func(a netip.Addr) {
			t.Helper()
			if got, want := tbl.Lookup(a), n.lookup(a); got != want {
				t.Fatalf("seed %d: Lookup(%v) = %+v, want %+v", seed, a, got, want)
			}
		}
		for _, p := range all {
			for _, a := range probes(p) {
				check(a)
			}
		}
		for i := 0; i < 2000; i++ {
			check(randPrefix(r, i%2 == 0).Addr())
		}
	}
}

func TestMappedPrefixesAreIPv4(t *testing.T) {
	var b Builder
	b.SetCountry(netip.MustParsePrefix("::ffff:192.0.2.0/120"), "DE")
	tbl, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	de, _ := CountryID("DE")
	for _, a := range []string{"192.0.2.7", "::ffff:192.0.2.7"} {
		if got := tbl.Lookup(netip.MustParseAddr(a)).Country; got != de {
			t.Errorf("Lookup(%s).Country = %d, want %d", a, got, de)
		}
	}
}

func TestFullScaleAgainstNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("full scale")
	}
	nets := geodata.Generate(3, 607000, 652000)
	var b Builder
	for _, n := range nets {
		b.SetCountry(n.Prefix, n.Country)
	}
	tbl, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full scale: %+v, %d MiB", tbl.Stats(), tbl.Stats().Bytes()>>20)
	for _, n := range nets {
		want, _ := CountryID(n.Country)
		for _, a := range probes(n.Prefix)[:2] {
			if got := tbl.Lookup(a).Country; got != want {
				t.Fatalf("Lookup(%v) country %d, want %d (network %v)", a, got, want, n.Prefix)
			}
		}
	}
}

func TestCountryID(t *testing.T) {
	for _, cc := range []string{"AA", "DE", "ZZ", "US"} {
		id, err := CountryID(cc)
		if err != nil || id == 0 || id > 676 || CountryCode(id) != cc {
			t.Errorf("CountryID(%q) = %d, %v; back %q", cc, id, err, CountryCode(id))
		}
	}
	for _, bad := range []string{"de", "D", "DEU", "1A", "Ä"} {
		if _, err := CountryID(bad); err == nil {
			t.Errorf("CountryID(%q): want error", bad)
		}
	}
	if id, err := CountryID(""); id != 0 || err != nil {
		t.Errorf(`CountryID("") = %d, %v`, id, err)
	}
}

func TestTooManyClasses(t *testing.T) {
	var b Builder
	// Every /24 a different country, each also allowlisted for a different
	// service set: far more combinations than MaxClasses.
	for i := 0; i < 70000; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		b.SetCountry(p, geodata.Countries[i%len(geodata.Countries)])
		b.Allow(p, uint8(1+i%63))
		b.Allow(p, uint8(1+(i/7)%63))
	}
	if _, err := b.Build(); err == nil {
		t.Fatal("Build: want ErrTooManyClasses")
	}
}

func BenchmarkBuildFullScale(b *testing.B) {
	nets := geodata.Generate(3, 607000, 652000)
	b.ResetTimer()
	for b.Loop() {
		var bl Builder
		bl.Grow(607000, 652000)
		for _, n := range nets {
			bl.SetCountry(n.Prefix, n.Country)
		}
		if _, err := bl.Build(); err != nil {
			b.Fatal(err)
		}
	}
}
