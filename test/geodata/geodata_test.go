package geodata

import (
	"testing"
)

func TestGenerateShape(t *testing.T) {
	nets := Generate(1, 20000, 20000)
	var n4, n6, none int
	var prev4, prev6 *Network
	for i := range nets {
		n := &nets[i]
		if !n.Prefix.IsValid() || n.Prefix.Masked() != n.Prefix {
			t.Fatalf("network %d: %v is not a canonical prefix", i, n.Prefix)
		}
		if n.Country == "" {
			none++
		}
		prev := &prev6
		if n.Prefix.Addr().Is4() {
			n4++
			prev = &prev4
		} else {
			n6++
		}
		if *prev != nil && LastAddr((*prev).Prefix).Compare(n.Prefix.Addr()) >= 0 {
			t.Fatalf("network %v overlaps or precedes %v", n.Prefix, (*prev).Prefix)
		}
		*prev = n
	}
	if n4 != 20000 || n6 != 20000 {
		t.Errorf("got %d IPv4 and %d IPv6 networks, want 20000 each", n4, n6)
	}
	if none == 0 || none > len(nets)/10 {
		t.Errorf("%d networks without a country, want a few", none)
	}
	again := Generate(1, 20000, 20000)
	for i := range nets {
		if nets[i] != again[i] {
			t.Fatalf("not deterministic at %d: %v vs %v", i, nets[i], again[i])
		}
	}
}

func TestGenerateFullScaleFits(t *testing.T) {
	if testing.Short() {
		t.Skip("full scale")
	}
	nets := Generate(7, 607000, 652000)
	var n4, n6 int
	for _, n := range nets {
		if n.Prefix.Addr().Is4() {
			n4++
		} else {
			n6++
		}
	}
	if n4 < 600000 || n6 < 600000 {
		t.Fatalf("address space ran out: %d IPv4, %d IPv6 networks", n4, n6)
	}
}
