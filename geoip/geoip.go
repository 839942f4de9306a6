// Package geoip reads country data from MaxMind DB (.mmdb) files: MaxMind
// GeoIP2/GeoLite2 Country and City databases, and databases that use the
// flat schema with a top-level country_code string (DB-IP Lite as published
// by ip-location-db, and similar).
//
// A record's country is taken from the first of these that is set:
//
//  1. country.iso_code (MaxMind: where the address is used),
//  2. registered_country.iso_code (MaxMind: where the block is registered;
//     set on its own for some anycast and satellite networks),
//  3. country_code (flat schema).
//
// Every answer says which of them was used (Source), so an operator can tell
// a registered-country fallback from a located address.
//
// Open validates a file before anything reads it (metadata, a full
// structural Verify, at least one network with a country), so a database
// that opened can be walked and looked up without surprises.
//
// It knows MaxMind DB files only: not the policy, the datapath, or when
// the daemon reads a database (geoip/update installs files; the daemon
// decides when to load them).
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mailgate/enforcer/policy"
)

// Source names the record field a country was read from.
type Source uint8

// The fields a country can come from; SourceNone means the record (or the
// absence of one) gave no country.
const (
	SourceNone              Source = iota // no country
	SourceCountry                         // country.iso_code
	SourceRegisteredCountry               // registered_country.iso_code
	SourceCountryCode                     // country_code (flat schema)
)

var sourceNames = [...]string{
	SourceNone:              "none",
	SourceCountry:           "country",
	SourceRegisteredCountry: "registered_country",
	SourceCountryCode:       "country_code",
}

// String returns the source as used in CLI output and JSON: "none",
// "country", "registered_country" or "country_code".
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// MarshalText encodes the source as its String form.
func (s Source) MarshalText() ([]byte, error) {
	if int(s) >= len(sourceNames) {
		return nil, fmt.Errorf("marshal geoip source: unknown source %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes the String form of a source.
func (s *Source) UnmarshalText(b []byte) error {
	for i, name := range sourceNames {
		if string(b) == name {
			*s = Source(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal geoip source: unknown source %q (want none, country, registered_country or country_code)", b)
}

// Result is the answer to a Lookup.
type Result struct {
	// IP is the address that was looked up, unmapped (an IPv4-mapped IPv6
	// address is reported as the IPv4 address it maps) and without zone.
	IP netip.Addr
	// Country is the ISO 3166-1 alpha-2 code in upper case, "" if none.
	Country string
	// Source is the field Country came from; SourceNone when Country is "".
	Source Source
	// Network is the database network that holds IP: an IPv4 prefix for an
	// IPv4 address, an IPv6 prefix otherwise. When no record covers IP it is
	// the empty part of the search tree that IP fell into (so it is never
	// the zero Prefix).
	Network netip.Prefix
}

// Network is one network of a database as yielded by DB.Networks.
type Network struct {
	// Prefix is canonical (masked): 4-byte for IPv4, 16-byte for IPv6.
	Prefix netip.Prefix
	// Country is the ISO 3166-1 alpha-2 code in upper case, "" when the
	// network has a record but the record has no country.
	Country string
	// Source is the field Country came from.
	Source Source
}

// Metadata describes a database file.
type Metadata struct {
	// DatabaseType is the file's database_type, e.g. "GeoLite2-Country".
	DatabaseType string
	// Description is the English description, "" if the file has none.
	Description string
	// BuildTime is when the database was built (build_epoch).
	BuildTime time.Time
	// IPVersion is 4 for an IPv4-only database, 6 for one that holds
	// IPv6 and IPv4.
	IPVersion int
	// NodeCount is the number of nodes in the search tree.
	NodeCount uint
	// RecordSize is the size in bits of a search tree record: 24, 28 or 32.
	RecordSize int
}

// ErrClosed is returned when a DB is used after Close.
var ErrClosed = errors.New("geoip database is closed")

// InvalidDatabaseError reports a file that is not a usable MaxMind DB:
// truncated, corrupt, or with metadata this package cannot work with.
type InvalidDatabaseError struct {
	Path string // the file
	Err  error  // what was wrong
}

// Error implements error.
func (e *InvalidDatabaseError) Error() string {
	return fmt.Sprintf("geoip database %s is not a valid MaxMind DB file: %v; download it again (enforcer geoip update)", e.Path, e.Err)
}

// Unwrap returns the underlying cause.
func (e *InvalidDatabaseError) Unwrap() error { return e.Err }

// NoCountryDataError reports a well-formed database that holds no country
// data at all, such as GeoLite2-ASN. Metadata lets a caller that only
// installs files (enforcer geoip update) still check the build time.
type NoCountryDataError struct {
	Path     string   // the file
	Metadata Metadata // its metadata, which did parse
}

// Error implements error.
func (e *NoCountryDataError) Error() string {
	return fmt.Sprintf("geoip database %s (type %s) has no country data; use a Country or City database such as GeoLite2-Country",
		e.Path, e.Metadata.DatabaseType)
}

// CountryTable reads every network of the database into the country table
// the datapath compiles (policy.Policy.Networks), networks without a
// country included so that they stay distinct from unknown space. The
// networks and their order are those of Networks; the walk is split by
// subtree across GOMAXPROCS cores and written into one table of the exact
// size Open counted.
func (db *DB) CountryTable() ([]policy.Network, error) {
	return collect(db, func(n Network) policy.Network {
		return policy.Network{Prefix: n.Prefix, Country: n.Country}
	})
}
