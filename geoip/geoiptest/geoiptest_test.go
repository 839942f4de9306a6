package geoiptest

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/geoip"
)

func TestCanonical(t *testing.T) {
	n := func(p, c string) geoip.Network {
		src := geoip.SourceCountry
		if c == "" {
			src = geoip.SourceNone
		}
		return geoip.Network{Prefix: netip.MustParsePrefix(p), Country: c, Source: src}
	}
	tests := []struct {
		name     string
		in, want []geoip.Network
	}{
		{"siblings merge",
			[]geoip.Network{n("192.0.2.128/25", "DE"), n("192.0.2.0/25", "DE")},
			[]geoip.Network{n("192.0.2.0/24", "DE")}},
		{"merges cascade",
			[]geoip.Network{n("192.0.2.0/26", "DE"), n("192.0.2.64/26", "DE"), n("192.0.2.128/26", "DE"), n("192.0.2.192/26", "DE")},
			[]geoip.Network{n("192.0.2.0/24", "DE")}},
		{"different countries stay",
			[]geoip.Network{n("192.0.2.0/25", "DE"), n("192.0.2.128/25", "FR")},
			[]geoip.Network{n("192.0.2.0/25", "DE"), n("192.0.2.128/25", "FR")}},
		{"neighbours that are not siblings stay",
			[]geoip.Network{n("192.0.2.128/25", "DE"), n("192.0.3.0/25", "DE")},
			[]geoip.Network{n("192.0.2.128/25", "DE"), n("192.0.3.0/25", "DE")}},
		{"no country merges too, IPv4 sorts first",
			[]geoip.Network{n("2001:db8::/33", ""), n("2001:db8:8000::/33", ""), n("198.51.100.0/24", "")},
			[]geoip.Network{n("198.51.100.0/24", ""), n("2001:db8::/32", "")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Canonical(tc.in)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Canonical (-want +got):\n%s", diff)
			}
		})
	}
}
