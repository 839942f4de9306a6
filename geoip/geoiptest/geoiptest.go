// Package geoiptest writes MaxMind DB files for tests and benchmarks, with
// github.com/maxmind/mmdbwriter. The files go wherever the caller says
// (normally tb.TempDir()); none is ever committed: MaxMind's licence forbids
// redistributing its data, and generated ones are rebuilt in seconds.
//
// It is for tests only: no production package imports it.
package geoiptest

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/test/geodata"
)

// Options shape the written database. The zero value writes a
// GeoLite2-Country-like IPv6 database with IPv4 aliasing, 28-bit records,
// built at BuildTime's default.
type Options struct {
	// DatabaseType defaults to "GeoLite2-Country".
	DatabaseType string
	// IPVersion is 4 or 6; default 6.
	IPVersion int
	// RecordSize is 24, 28 or 32; default 28.
	RecordSize int
	// BuildTime defaults to DefaultBuildTime.
	BuildTime time.Time
	// DisableIPv4Aliasing leaves ::ffff:0:0/96, 2001::/32 and 2002::/16
	// free instead of pointing them at the IPv4 subtree, as MaxMind's own
	// databases do.
	DisableIPv4Aliasing bool
}

// DefaultBuildTime is the build time of databases written with a zero
// Options.BuildTime.
var DefaultBuildTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Entry is one network and the record stored for it.
type Entry struct {
	Prefix netip.Prefix
	// Record is the data record; nil stores nothing (an empty network).
	Record mmdbtype.DataType
}

// aliased are the networks an IPv6 mmdbwriter tree points at the IPv4
// subtree; nothing can be inserted into them.
var aliased = []netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

func (o Options) withDefaults() Options {
	if o.DatabaseType == "" {
		o.DatabaseType = "GeoLite2-Country"
	}
	if o.IPVersion == 0 {
		o.IPVersion = 6
	}
	if o.RecordSize == 0 {
		o.RecordSize = 28
	}
	if o.BuildTime.IsZero() {
		o.BuildTime = DefaultBuildTime
	}
	return o
}

// Write writes entries to a new database at path. Reserved and
// documentation ranges (192.0.2.0/24, 2001:db8::/32, ...) are allowed, so
// tests can use them. Entries are inserted in order; a later one replaces
// what an earlier one stored where they overlap.
func Write(tb testing.TB, path string, entries []Entry, opts Options) {
	tb.Helper()
	if err := WriteFile(path, entries, opts); err != nil {
		tb.Fatal(err)
	}
}

// WriteFile is Write for callers without a testing.TB (the benchmark
// harness).
func WriteFile(path string, entries []Entry, opts Options) error {
	opts = opts.withDefaults()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            opts.DatabaseType,
		Description:             map[string]string{"en": "enforcer test database"},
		IPVersion:               opts.IPVersion,
		RecordSize:              opts.RecordSize,
		BuildEpoch:              opts.BuildTime.Unix(),
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     opts.DisableIPv4Aliasing,
		KeyGenerator:            keyGenerator{},
	})
	if err != nil {
		return fmt.Errorf("new mmdb tree: %w", err)
	}
	for _, e := range entries {
		if e.Record == nil {
			continue
		}
		if err := tree.Insert(ipNet(e.Prefix), e.Record); err != nil {
			return fmt.Errorf("insert %v: %w", e.Prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create test database: %w", err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		return fmt.Errorf("write test database %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close test database %s: %w", path, err)
	}
	return nil
}

// CountryRecord returns a GeoLite2-Country-shaped record for code:
// country.iso_code and registered_country.iso_code both set to code, plus
// the continent and names a real record carries (which readers must skip).
// For code "" it returns a record with no country (only traits), like the
// few GeoLite2 networks that have none.
func CountryRecord(code string) mmdbtype.Map {
	if code == "" {
		return mmdbtype.Map{"traits": mmdbtype.Map{"is_anycast": mmdbtype.Bool(true)}}
	}
	c := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(1000 + uint32(code[0])<<8 | uint32(code[1])),
		"iso_code":   mmdbtype.String(code),
		"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + code), "de": mmdbtype.String("Land " + code)},
	}
	return mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148)},
		"country":            c,
		"registered_country": c,
	}
}

// WriteDB writes nets (as test/geodata generates them) to path as a
// GeoLite2-Country-schema database and returns the networks the written
// file holds, in the order and form geoip.DB.Networks yields them:
//
//   - networks that overlap an aliased range of an IPv6 database with
//     aliasing (::ffff:0:0/96, 2001::/32, 2002::/16) are left out, as
//     mmdbwriter refuses or clips them;
//   - neighbouring networks with the same country are merged, as mmdbwriter
//     merges sibling records that hold the same data.
//
// nets must be disjoint.
func WriteDB(tb testing.TB, path string, nets []geodata.Network, opts Options) []geoip.Network {
	tb.Helper()
	kept, err := WriteDBFile(path, nets, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return kept
}

// WriteDBFile is WriteDB for callers without a testing.TB.
func WriteDBFile(path string, nets []geodata.Network, opts Options) ([]geoip.Network, error) {
	opts = opts.withDefaults()
	records := map[string]mmdbtype.Map{}
	entries := make([]Entry, 0, len(nets))
	kept := make([]geoip.Network, 0, len(nets))
	for _, n := range nets {
		if !keep(n.Prefix, opts) {
			continue
		}
		r, ok := records[n.Country]
		if !ok {
			r = CountryRecord(n.Country)
			records[n.Country] = r
		}
		entries = append(entries, Entry{Prefix: n.Prefix, Record: r})
		src := geoip.SourceCountry
		if n.Country == "" {
			src = geoip.SourceNone
		}
		kept = append(kept, geoip.Network{Prefix: n.Prefix.Masked(), Country: n.Country, Source: src})
	}
	if err := WriteFile(path, entries, opts); err != nil {
		return nil, err
	}
	return Canonical(kept), nil
}

func keep(p netip.Prefix, opts Options) bool {
	if opts.IPVersion == 4 {
		return p.Addr().Is4()
	}
	if opts.DisableIPv4Aliasing || p.Addr().Is4() {
		return true
	}
	for _, a := range aliased {
		if a.Overlaps(p) {
			return false
		}
	}
	return true
}

// Canonical returns nets sorted (IPv4 before IPv6, then by address) with
// sibling networks of equal Country and Source merged into their parent,
// repeatedly: the form a MaxMind DB search tree stores them in. nets must be
// disjoint.
func Canonical(nets []geoip.Network) []geoip.Network {
	sorted := slices.Clone(nets)
	slices.SortFunc(sorted, func(a, b geoip.Network) int {
		if a.Prefix.Addr().Is4() != b.Prefix.Addr().Is4() {
			if a.Prefix.Addr().Is4() {
				return -1
			}
			return 1
		}
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), a.Prefix.Bits()-b.Prefix.Bits())
	})
	out := make([]geoip.Network, 0, len(sorted))
	for _, n := range sorted {
		for len(out) > 0 {
			top := out[len(out)-1]
			if top.Country != n.Country || top.Source != n.Source || !siblings(top.Prefix, n.Prefix) {
				break
			}
			out = out[:len(out)-1]
			n.Prefix = netip.PrefixFrom(top.Prefix.Addr(), top.Prefix.Bits()-1)
		}
		out = append(out, n)
	}
	return out
}

// siblings reports whether a is the lower and b the upper half of the same
// parent prefix.
func siblings(a, b netip.Prefix) bool {
	if a.Bits() != b.Bits() || a.Bits() == 0 || a.Addr().Is4() != b.Addr().Is4() {
		return false
	}
	parent := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked()
	return parent.Addr() == a.Addr() && parent.Contains(b.Addr()) && a.Addr() != b.Addr()
}

func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// keyGenerator deduplicates records by their encoding, as mmdbwriter's
// default does, but without hashing: test records are small and few, and
// SHA-256 over a million inserts is most of the time of writing a
// full-scale database.
type keyGenerator struct{}

// Key implements mmdbwriter.KeyGenerator.
func (keyGenerator) Key(v mmdbtype.DataType) ([]byte, error) {
	var w keyWriter
	if _, err := v.WriteTo(&w); err != nil {
		return nil, err
	}
	return w.b, nil
}

// keyWriter collects a record's encoding. Records never contain pointers
// here, so WriteOrWritePointer always writes the value itself.
type keyWriter struct {
	b []byte
}

func (w *keyWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *keyWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *keyWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

func (w *keyWriter) WriteOrWritePointer(v mmdbtype.DataType) (int64, error) {
	return v.WriteTo(w)
}
