package geoip_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/test/geodata"
)

var prefixComparer = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// mustNetworks collects every network of db.
func mustNetworks(tb testing.TB, db *geoip.DB) []geoip.Network {
	tb.Helper()
	var out []geoip.Network
	for n, err := range db.Networks() {
		if err != nil {
			tb.Fatalf("Networks: %v", err)
		}
		out = append(out, n)
	}
	return out
}

func TestNetworksMixed(t *testing.T) {
	tests := []struct {
		name string
		opts geoiptest.Options
	}{
		{"aliased", geoiptest.Options{}}, // IPv4 aliases, like MaxMind's files
		{"unaliased", geoiptest.Options{DisableIPv4Aliasing: true}},
		{"24-bit records", geoiptest.Options{RecordSize: 24}},
		{"32-bit records", geoiptest.Options{RecordSize: 32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpen(t, mustWrite(t, mixedEntries, tc.opts))
			if diff := cmp.Diff(mixedNetworks, mustNetworks(t, db), prefixComparer); diff != "" {
				t.Errorf("Networks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNetworksGenerated writes generated country tables in every layout
// and checks that Networks yields exactly what was written (IPv4 once, not
// again under its aliases) and that Lookup agrees at both ends of every
// network.
func TestNetworksGenerated(t *testing.T) {
	nets := geodata.Generate(3, 3000, 3000)
	tests := []struct {
		name string
		opts geoiptest.Options
	}{
		{"ipv6 aliased 28", geoiptest.Options{}},
		{"ipv6 aliased 24", geoiptest.Options{RecordSize: 24}},
		{"ipv6 aliased 32", geoiptest.Options{RecordSize: 32}},
		{"ipv6 unaliased", geoiptest.Options{DisableIPv4Aliasing: true}},
		{"ipv4 only", geoiptest.Options{IPVersion: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gen.mmdb")
			want := geoiptest.WriteDB(t, path, nets, tc.opts)
			db := mustOpen(t, path)
			got := mustNetworks(t, db)
			if diff := cmp.Diff(want, got, prefixComparer); diff != "" {
				t.Fatalf("Networks (-want +got):\n%s", diff)
			}
			var v4 int
			for _, n := range got {
				if n.Prefix != n.Prefix.Masked() {
					t.Errorf("%v is not canonical", n.Prefix)
				}
				if n.Prefix.Addr().Is4() {
					v4++
				}
				for _, a := range []netip.Addr{n.Prefix.Addr(), geodata.LastAddr(n.Prefix)} {
					r, err := db.Lookup(a)
					if err != nil {
						t.Fatalf("Lookup(%v): %v", a, err)
					}
					if r.Country != n.Country || r.Source != n.Source || r.Network != n.Prefix {
						t.Fatalf("Lookup(%v) = %q/%v in %v; Networks says %q/%v in %v",
							a, r.Country, r.Source, r.Network, n.Country, n.Source, n.Prefix)
					}
				}
			}
			if v4 == 0 || (tc.opts.IPVersion != 4 && v4 == len(got)) {
				t.Errorf("%d IPv4 of %d networks: want both families", v4, len(got))
			}
		})
	}
}

// TestNetworksIPv4UnderShortIPv6 covers a database without aliasing whose
// record ::/8 holds the whole IPv4 subtree: Networks must yield IPv4 too,
// as Lookup answers IPv4 addresses from that record.
func TestNetworksIPv4UnderShortIPv6(t *testing.T) {
	db := mustOpen(t, mustWrite(t, []geoiptest.Entry{
		{Prefix: pfx("::/8"), Record: geoiptest.CountryRecord("AQ")},
		{Prefix: pfx("2001:db8::/32"), Record: geoiptest.CountryRecord("US")},
	}, geoiptest.Options{DisableIPv4Aliasing: true}))
	want := []geoip.Network{
		{Prefix: pfx("0.0.0.0/0"), Country: "AQ", Source: geoip.SourceCountry},
		{Prefix: pfx("::/8"), Country: "AQ", Source: geoip.SourceCountry},
		{Prefix: pfx("2001:db8::/32"), Country: "US", Source: geoip.SourceCountry},
	}
	if diff := cmp.Diff(want, mustNetworks(t, db), prefixComparer); diff != "" {
		t.Errorf("Networks (-want +got):\n%s", diff)
	}
	r, err := db.Lookup(addr("192.0.2.1"))
	if err != nil || r.Country != "AQ" || r.Network != pfx("0.0.0.0/0") {
		t.Errorf("Lookup(192.0.2.1) = %+v, %v; want AQ in 0.0.0.0/0", r, err)
	}
}

func TestNetworksStopsEarly(t *testing.T) {
	db := mustOpen(t, mustWrite(t, mixedEntries, geoiptest.Options{}))
	n := 0
	for range db.Networks() {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("iterated %d networks, want to stop at 2", n)
	}
}

// TestNetworksBadRecordLater checks that a record Open did not reach (it
// stops at the first country) still fails cleanly in Networks.
func TestNetworksBadRecordLater(t *testing.T) {
	db := mustOpen(t, mustWrite(t, []geoiptest.Entry{
		{Prefix: pfx("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")},
		{Prefix: pfx("2001:db8::/32"), Record: mmdbtype.Map{"country_code": str("D1")}},
	}, geoiptest.Options{}))
	var got []geoip.Network
	var gotErr error
	for n, err := range db.Networks() {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, n)
	}
	if len(got) != 1 || gotErr == nil {
		t.Errorf("got %v then error %v; want one network, then an error", got, gotErr)
	}
	if _, err := db.Lookup(addr("2001:db8::1")); err == nil {
		t.Error("Lookup of the bad record succeeded")
	}
}
