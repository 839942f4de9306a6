package geoip_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
)

// mustWrite writes entries to a database in a temporary directory and
// returns its path.
func mustWrite(tb testing.TB, entries []geoiptest.Entry, opts geoiptest.Options) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.mmdb")
	geoiptest.Write(tb, path, entries, opts)
	return path
}

// mustOpen opens path and closes it when the test ends.
func mustOpen(tb testing.TB, path string) *geoip.DB {
	tb.Helper()
	db, err := geoip.Open(path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func str(s string) mmdbtype.String { return mmdbtype.String(s) }

// cityRecord is shaped like a GeoLite2-City record: the country sits among
// fields the reader must skip.
func cityRecord(code string) mmdbtype.Map {
	return mmdbtype.Map{
		"city":      mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1850147), "names": mmdbtype.Map{"en": str("Tokyo"), "ja": str("東京")}},
		"continent": mmdbtype.Map{"code": str("AS")},
		"country":   mmdbtype.Map{"iso_code": str(code), "names": mmdbtype.Map{"en": str("Japan")}},
		"location": mmdbtype.Map{
			"latitude": mmdbtype.Float64(35.6895), "longitude": mmdbtype.Float64(139.6917),
			"time_zone": str("Asia/Tokyo"), "accuracy_radius": mmdbtype.Uint16(50),
		},
		"postal":             mmdbtype.Map{"code": str("100-0001")},
		"registered_country": mmdbtype.Map{"iso_code": str("US")},
		"subdivisions":       mmdbtype.Slice{mmdbtype.Map{"iso_code": str("13"), "names": mmdbtype.Map{"en": str("Tokyo")}}},
	}
}

// mixedEntries covers every record shape the package reads.
var mixedEntries = []geoiptest.Entry{
	{Prefix: pfx("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")},
	{Prefix: pfx("198.51.100.0/25"), Record: mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": str("FR")}}},
	{Prefix: pfx("198.51.100.128/25"), Record: geoiptest.CountryRecord("")},
	{Prefix: pfx("203.0.113.0/24"), Record: cityRecord("JP")},
	{Prefix: pfx("203.0.114.0/26"), Record: mmdbtype.Map{"country": mmdbtype.Map{"iso_code": str("nl")}}},
	{Prefix: pfx("2001:db8::/32"), Record: geoiptest.CountryRecord("US")},
	{Prefix: pfx("3fff::/20"), Record: mmdbtype.Map{"country_code": str("CA")}},
	{Prefix: pfx("3fff:1000::/20"), Record: mmdbtype.Map{}},
}

// mixedNetworks is what Networks yields for mixedEntries.
var mixedNetworks = []geoip.Network{
	{Prefix: pfx("192.0.2.0/24"), Country: "DE", Source: geoip.SourceCountry},
	{Prefix: pfx("198.51.100.0/25"), Country: "FR", Source: geoip.SourceRegisteredCountry},
	{Prefix: pfx("198.51.100.128/25"), Source: geoip.SourceNone},
	{Prefix: pfx("203.0.113.0/24"), Country: "JP", Source: geoip.SourceCountry},
	{Prefix: pfx("203.0.114.0/26"), Country: "NL", Source: geoip.SourceCountry},
	{Prefix: pfx("2001:db8::/32"), Country: "US", Source: geoip.SourceCountry},
	{Prefix: pfx("3fff::/20"), Country: "CA", Source: geoip.SourceCountryCode},
	{Prefix: pfx("3fff:1000::/20"), Source: geoip.SourceNone},
}

func TestLookup(t *testing.T) {
	db := mustOpen(t, mustWrite(t, mixedEntries, geoiptest.Options{}))
	tests := []struct {
		name string
		ip   string
		want geoip.Result
	}{
		{"ipv4 country", "192.0.2.1",
			geoip.Result{IP: addr("192.0.2.1"), Country: "DE", Source: geoip.SourceCountry, Network: pfx("192.0.2.0/24")}},
		{"ipv4-mapped judged as ipv4", "::ffff:192.0.2.255",
			geoip.Result{IP: addr("192.0.2.255"), Country: "DE", Source: geoip.SourceCountry, Network: pfx("192.0.2.0/24")}},
		{"registered country fallback", "198.51.100.7",
			geoip.Result{IP: addr("198.51.100.7"), Country: "FR", Source: geoip.SourceRegisteredCountry, Network: pfx("198.51.100.0/25")}},
		{"record without country", "198.51.100.200",
			geoip.Result{IP: addr("198.51.100.200"), Source: geoip.SourceNone, Network: pfx("198.51.100.128/25")}},
		{"city record", "203.0.113.77",
			geoip.Result{IP: addr("203.0.113.77"), Country: "JP", Source: geoip.SourceCountry, Network: pfx("203.0.113.0/24")}},
		{"lower-case code upper-cased", "203.0.114.1",
			geoip.Result{IP: addr("203.0.114.1"), Country: "NL", Source: geoip.SourceCountry, Network: pfx("203.0.114.0/26")}},
		{"ipv6 country", "2001:db8::1",
			geoip.Result{IP: addr("2001:db8::1"), Country: "US", Source: geoip.SourceCountry, Network: pfx("2001:db8::/32")}},
		{"ipv6 zone dropped", "2001:db8::1%eth0",
			geoip.Result{IP: addr("2001:db8::1"), Country: "US", Source: geoip.SourceCountry, Network: pfx("2001:db8::/32")}},
		{"flat country_code", "3fff:fff::1",
			geoip.Result{IP: addr("3fff:fff::1"), Country: "CA", Source: geoip.SourceCountryCode, Network: pfx("3fff::/20")}},
		{"empty record", "3fff:1000::1",
			geoip.Result{IP: addr("3fff:1000::1"), Source: geoip.SourceNone, Network: pfx("3fff:1000::/20")}},
		// 2002:c000:0201:: is 6to4 for 192.0.2.1: MaxMind aliases it to the
		// IPv4 subtree, and Lookup follows the alias.
		{"6to4 alias", "2002:c000:0201::",
			geoip.Result{IP: addr("2002:c000:201::"), Country: "DE", Source: geoip.SourceCountry, Network: pfx("2002:c000:200::/40")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Lookup(addr(tc.ip))
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tc.ip, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Lookup(%s) (-want +got):\n%s", tc.ip, diff)
			}
		})
	}
}

func TestLookupUncovered(t *testing.T) {
	db := mustOpen(t, mustWrite(t, mixedEntries, geoiptest.Options{}))
	for _, ip := range []string{"8.8.8.8", "0.0.0.1", "255.255.255.255", "2a00::1", "::ffff:8.8.4.4"} {
		t.Run(ip, func(t *testing.T) {
			got, err := db.Lookup(addr(ip))
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got.Country != "" || got.Source != geoip.SourceNone {
				t.Errorf("country %q from %v, want none", got.Country, got.Source)
			}
			if !got.Network.IsValid() || !got.Network.Contains(got.IP) || got.Network != got.Network.Masked() {
				t.Errorf("network %v does not hold %v canonically", got.Network, got.IP)
			}
		})
	}
}

func TestLookupIPv4Database(t *testing.T) {
	db := mustOpen(t, mustWrite(t, []geoiptest.Entry{
		{Prefix: pfx("192.0.2.0/24"), Record: mmdbtype.Map{"country_code": str("SE")}},
	}, geoiptest.Options{IPVersion: 4, DatabaseType: "ip-location-db-country"}))
	tests := []struct {
		ip      string
		country string
		network string
	}{
		{"192.0.2.9", "SE", "192.0.2.0/24"},
		{"::ffff:192.0.2.9", "SE", "192.0.2.0/24"},
		{"2001:db8::1", "", "::/0"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			got, err := db.Lookup(addr(tc.ip))
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got.Country != tc.country || got.Network != pfx(tc.network) {
				t.Errorf("Lookup(%s) = %q in %v, want %q in %s", tc.ip, got.Country, got.Network, tc.country, tc.network)
			}
		})
	}
}

func TestLookupInvalidAddress(t *testing.T) {
	db := mustOpen(t, mustWrite(t, mixedEntries, geoiptest.Options{}))
	if _, err := db.Lookup(netip.Addr{}); err == nil {
		t.Error("Lookup(zero Addr) succeeded, want an error")
	}
}

func TestMetadata(t *testing.T) {
	built := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	db := mustOpen(t, mustWrite(t, mixedEntries, geoiptest.Options{DatabaseType: "GeoIP2-City", RecordSize: 24, BuildTime: built}))
	got := db.Metadata()
	if got.DatabaseType != "GeoIP2-City" || !got.BuildTime.Equal(built) || got.IPVersion != 6 || got.RecordSize != 24 ||
		got.NodeCount == 0 || got.Description != "enforcer test database" {
		t.Errorf("Metadata() = %+v", got)
	}
	md, err := geoip.ReadMetadata(db.Path())
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	if diff := cmp.Diff(got, md); diff != "" {
		t.Errorf("ReadMetadata differs from Metadata (-Metadata +ReadMetadata):\n%s", diff)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	valid := mustWrite(t, mixedEntries, geoiptest.Options{})
	validBytes, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), validBytes...)
	for i := 0; i < 64; i++ { // smash the top of the search tree
		corrupt[i] = 0xff
	}

	tests := []struct {
		name      string
		path      string
		noCountry bool // want *NoCountryDataError, else *InvalidDatabaseError
		msg       string
	}{
		{name: "truncated", path: write("truncated.mmdb", validBytes[:len(validBytes)/2]), msg: "not a valid MaxMind DB file"},
		{name: "truncated metadata", path: write("short.mmdb", validBytes[:len(validBytes)-20]), msg: "not a valid MaxMind DB file"},
		{name: "corrupt tree", path: write("corrupt.mmdb", corrupt), msg: "not a valid MaxMind DB file"},
		{name: "not an mmdb", path: write("text.mmdb", []byte("AccountID 1\nLicenseKey x\n")), msg: "not a valid MaxMind DB file"},
		{name: "empty file", path: write("empty.mmdb", nil), msg: "not a valid MaxMind DB file"},
		{name: "bad country code", path: mustWrite(t, []geoiptest.Entry{
			{Prefix: pfx("192.0.2.0/24"), Record: mmdbtype.Map{"country_code": str("DEU")}},
		}, geoiptest.Options{}), msg: `country_code "DEU" is not an ISO 3166-1 alpha-2 code`},
		{name: "record not a map", path: mustWrite(t, []geoiptest.Entry{
			{Prefix: pfx("192.0.2.0/24"), Record: str("DE")},
		}, geoiptest.Options{}), msg: "data record at offset"},
		{name: "country of wrong type", path: mustWrite(t, []geoiptest.Entry{
			{Prefix: pfx("192.0.2.0/24"), Record: mmdbtype.Map{"country": str("DE")}},
		}, geoiptest.Options{}), msg: "data record at offset"},
		{name: "asn edition by type", noCountry: true, path: mustWrite(t, []geoiptest.Entry{
			{Prefix: pfx("192.0.2.0/24"), Record: mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496)}},
		}, geoiptest.Options{DatabaseType: "GeoLite2-ASN"}), msg: "(type GeoLite2-ASN) has no country data"},
		{name: "no country in any record", noCountry: true, path: mustWrite(t, []geoiptest.Entry{
			{Prefix: pfx("192.0.2.0/24"), Record: mmdbtype.Map{"isp": str("Example")}},
			{Prefix: pfx("2001:db8::/32"), Record: geoiptest.CountryRecord("")},
		}, geoiptest.Options{DatabaseType: "Acme-Networks"}), msg: "has no country data; use a Country or City database"},
		{name: "no networks", noCountry: true, path: mustWrite(t, nil, geoiptest.Options{}), msg: "has no country data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := geoip.Open(tc.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tc.path)
			}
			if tc.noCountry {
				var nc *geoip.NoCountryDataError
				if !errors.As(err, &nc) {
					t.Errorf("error %T (%v), want *NoCountryDataError", err, err)
				}
			} else {
				var ie *geoip.InvalidDatabaseError
				if !errors.As(err, &ie) {
					t.Errorf("error %T (%v), want *InvalidDatabaseError", err, err)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q does not name the file and say %q", msg, tc.msg)
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := geoip.Open(filepath.Join(t.TempDir(), "absent.mmdb"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(absent) error = %v, want fs.ErrNotExist", err)
	}
}

func TestClosed(t *testing.T) {
	db, err := geoip.Open(mustWrite(t, mixedEntries, geoiptest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := db.Lookup(addr("192.0.2.1")); !errors.Is(err, geoip.ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	for _, err := range db.Networks() {
		if !errors.Is(err, geoip.ErrClosed) {
			t.Errorf("Networks after Close: %v, want ErrClosed", err)
		}
	}
}

func TestSourceText(t *testing.T) {
	for _, s := range []geoip.Source{geoip.SourceNone, geoip.SourceCountry, geoip.SourceRegisteredCountry, geoip.SourceCountryCode} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", s, err)
		}
		var back geoip.Source
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("round trip of %v gave %v, %v", s, back, err)
		}
	}
	var s geoip.Source
	if err := s.UnmarshalText([]byte("city")); err == nil {
		t.Error(`UnmarshalText("city") succeeded`)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
