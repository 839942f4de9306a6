package geoip_test

import (
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
)

// compiled reads db's country table and compiles it as the datapath does.
func compiled(t *testing.T, db *geoip.DB) *srctable.Table {
	t.Helper()
	nets, err := db.CountryTable()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := loader.Compile(&policy.Policy{Networks: nets})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// agree fails unless the compiled table gives a the country the database's
// own lookup gives.
func agree(t *testing.T, db *geoip.DB, tbl *srctable.Table, a netip.Addr) {
	t.Helper()
	r, err := db.Lookup(a)
	if err != nil {
		t.Fatalf("Lookup(%v): %v", a, err)
	}
	if got := srctable.CountryCode(tbl.Lookup(a).Country); got != r.Country {
		t.Fatalf("%v: compiled table says %q, database says %q (network %v, %v)", a, got, r.Country, r.Network, r.Source)
	}
}

// TestCompiledTableMatchesDatabase is the differential test: every
// network's first and last address, random addresses inside each, and
// random addresses anywhere get the same country from the compiled
// datapath table as from the database.
func TestCompiledTableMatchesDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.mmdb")
	n := 40000
	if testing.Short() {
		n = 5000
	}
	geoiptest.WriteDB(t, path, geodata.Generate(11, n, n), geoiptest.Options{})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tbl := compiled(t, db)
	r := rand.New(rand.NewPCG(5, 6))
	count := 0
	for nw, err := range db.Networks() {
		if err != nil {
			t.Fatal(err)
		}
		agree(t, db, tbl, nw.Prefix.Addr())
		agree(t, db, tbl, geodata.LastAddr(nw.Prefix))
		agree(t, db, tbl, geodata.RandomAddr(r, nw.Prefix))
		if nw.Prefix.Addr().Is4() {
			// IPv4-mapped IPv6 sources are judged as IPv4.
			agree(t, db, tbl, netip.AddrFrom16(geodata.RandomAddr(r, nw.Prefix).As16()))
		}
		count++
	}
	for range 50000 {
		agree(t, db, tbl, geodata.RandomAddr(r, netip.MustParsePrefix("0.0.0.0/0")))
		agree(t, db, tbl, geodata.RandomAddr(r, netip.MustParsePrefix("2000::/3")))
	}
	t.Logf("%d networks, %+v", count, tbl.Stats())
}

// TestCompiledTableFallbacks covers registered-country fallback, networks
// with no country, and the flat country_code schema.
func TestCompiledTableFallbacks(t *testing.T) {
	rc := func(code string) mmdbtype.Map {
		return mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
	}
	for _, tc := range []struct {
		name    string
		opts    geoiptest.Options
		entries []geoiptest.Entry
		want    map[string]string
	}{
		{"country and registered country", geoiptest.Options{}, []geoiptest.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")},
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Record: rc("FR")},
			{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Record: mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}}},
			{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Record: rc("JP")},
		}, map[string]string{
			"192.0.2.9": "DE", "198.51.100.9": "FR", "203.0.113.9": "", "2001:db8:1::9": "JP",
			"::ffff:192.0.2.9": "DE", "10.0.0.1": "", "2001:db8:2::1": "",
		}},
		{"flat country_code schema", geoiptest.Options{DatabaseType: "dbip-country-lite"}, []geoiptest.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.0/25"), Record: mmdbtype.Map{"country_code": mmdbtype.String("SE")}},
			{Prefix: netip.MustParsePrefix("2001:db8::/32"), Record: mmdbtype.Map{"country_code": mmdbtype.String("NO")}},
		}, map[string]string{"192.0.2.1": "SE", "192.0.2.200": "", "2001:db8::1": "NO"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.mmdb")
			geoiptest.Write(t, path, tc.entries, tc.opts)
			db, err := geoip.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tbl := compiled(t, db)
			for ip, want := range tc.want {
				a := netip.MustParseAddr(ip)
				if got := srctable.CountryCode(tbl.Lookup(a).Country); got != want {
					t.Errorf("%s: compiled table %q, want %q", ip, got, want)
				}
				agree(t, db, tbl, a)
			}
		})
	}
}
