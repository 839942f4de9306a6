package iprange

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: prefixes joined by spaces
	}{
		{"192.0.2.0-192.0.2.130", "192.0.2.0/25 192.0.2.128/31 192.0.2.130/32"},
		{"192.0.2.5 - 192.0.2.5", "192.0.2.5/32"},
		{"10.0.0.0-10.255.255.255", "10.0.0.0/8"},
		{"0.0.0.0-255.255.255.255", "0.0.0.0/0"},
		{"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"2001:db8::-2001:db8::1:0", "2001:db8::/112 2001:db8::1:0/128"},
		{"::ffff:192.0.2.1-192.0.2.2", "192.0.2.1/32 192.0.2.2/32"},
		{"255.255.255.254-255.255.255.255", "255.255.255.254/31"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if g := strings.Join(s, " "); g != tc.want {
				t.Errorf("Parse(%q) = %s, want %s", tc.in, g, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.10-192.0.2.1", "reversed"},
		{"192.0.2.1-2001:db8::1", "mixes IPv4 and IPv6"},
		{"10.0.0.1-10.255.255.254", "more than 32 CIDR prefixes"},
		{"192.0.2.1-", "not an IP address"},
		{"fe80::1%eth0-fe80::2", "not an IP address"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
			}
		})
	}
	if _, err := Parse("192.0.2.0/24"); err != ErrNotRange {
		t.Errorf("Parse of a prefix = %v, want ErrNotRange", err)
	}
}

// FuzzCover checks the cover of any range: sorted, disjoint, adjacent
// (so it covers exactly from..to with no gap), every prefix masked, and
// minimal: no two neighbours merge into one prefix.
func FuzzCover(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0}, []byte{192, 0, 2, 130})
	f.Add([]byte{0, 0, 0, 0}, []byte{255, 255, 255, 255})
	f.Add(make([]byte, 16), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		from, ok1 := netip.AddrFromSlice(a)
		to, ok2 := netip.AddrFromSlice(b)
		if !ok1 || !ok2 {
			return
		}
		if to.Less(from) {
			from, to = to, from
		}
		ps, err := Cover(from, to)
		if err != nil {
			if from.Is4() == to.Is4() && !strings.Contains(err.Error(), "more than") {
				t.Fatalf("Cover(%v, %v): %v", from, to, err)
			}
			return
		}
		if len(ps) == 0 || len(ps) > MaxPrefixes {
			t.Fatalf("Cover(%v, %v): %d prefixes", from, to, len(ps))
		}
		if ps[0].Addr() != from {
			t.Fatalf("Cover(%v, %v) starts at %v", from, to, ps[0])
		}
		if last := lastAddr(ps[len(ps)-1]); last != to {
			t.Fatalf("Cover(%v, %v) ends at %v", from, to, last)
		}
		for i, p := range ps {
			if p.Masked() != p {
				t.Fatalf("Cover(%v, %v): %v is not masked", from, to, p)
			}
			if i == 0 {
				continue
			}
			prev := ps[i-1]
			if lastAddr(prev).Next() != p.Addr() {
				t.Fatalf("Cover(%v, %v): %v does not follow %v directly: %v", from, to, p, prev, ps)
			}
			if prev.Bits() == p.Bits() {
				if parent, _ := prev.Addr().Prefix(p.Bits() - 1); parent.Contains(p.Addr()) && p.Bits() > 0 {
					t.Fatalf("Cover(%v, %v) is not minimal: %v and %v make %v", from, to, prev, p, parent)
				}
			}
		}
		if !slices.IsSortedFunc(ps, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) }) {
			t.Fatalf("Cover(%v, %v) is not sorted: %v", from, to, ps)
		}
	})
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestIsRange: a '-' with an address on at least one side is a range (its
// errors then name the bad end); a word with a '-' is not, so it gets the
// bad-prefix error.
func TestIsRange(t *testing.T) {
	for s, want := range map[string]bool{
		"192.0.2.0-192.0.2.130": true,
		"192.0.2.0 - bad":       true,
		"bad-2001:db8::1":       true,
		"not-an-address":        false,
		"192.0.2.0/24":          false,
		"-":                     false,
	} {
		if got := IsRange(s); got != want {
			t.Errorf("IsRange(%q) = %v, want %v", s, got, want)
		}
	}
}
