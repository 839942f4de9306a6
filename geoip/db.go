package geoip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open, validated database. Its methods are safe for concurrent
// use, except Close, which must not run concurrently with any other method.
type DB struct {
	path string
	r    *maxminddb.Reader
	md   Metadata
	tree searchTree
	// subtrees cut the tree for a parallel walk (see collect).
	subtrees []subtree
}

// metadataMarker starts the metadata section (MaxMind DB spec, "Database
// Metadata").
var metadataMarker = []byte("\xAB\xCD\xEFMaxMind.com")

// noCountryTypes are database types of MaxMind and DB-IP editions that hold
// no location data. They are refused by name, with a clearer message than
// the content scan would give, before any record is read.
var noCountryTypes = []string{
	"GeoLite2-ASN", "GeoIP2-ISP", "GeoIP2-Domain", "GeoIP2-Connection-Type",
	"GeoIP2-User-Connection-Type", "GeoIP2-Anonymous-IP", "GeoIP-Anonymous-Plus",
	"GeoIP2-Static-IP-Score", "GeoIP2-User-Count", "GeoIP2-IP-Risk",
	"GeoIP2-DensityIncome", "DBIP-ASN-Lite", "DBIP-ISP",
}

// Open reads and validates the database at path.
//
// The whole file is read into memory rather than mapped: a reader of a
// mapped file dies with SIGBUS if the file is truncated under it, and the
// country databases are small (GeoLite2-Country is under 10 MB).
//
// Open refuses, with an *InvalidDatabaseError, a file that is truncated or
// corrupt (maxminddb's Verify walks the whole search tree and data
// section), whose metadata has no build time or an IP version other than 4
// or 6, or whose search tree is not a tree; and, with a *NoCountryDataError,
// a well-formed database that has no country in any record.
func Open(path string) (*DB, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	return openBytes(path, buf)
}

// ReadMetadata returns the metadata of the database at path without
// validating the rest of the file. enforcer geoip update uses it to read the
// build time of the installed file, which may be damaged.
func ReadMetadata(path string) (Metadata, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return Metadata{}, fmt.Errorf("read geoip metadata: %w", err)
		}
		return Metadata{}, &InvalidDatabaseError{Path: path, Err: err}
	}
	defer r.Close()
	return metadataOf(r.Metadata), nil
}

// openBytes opens buf, named name in errors. The fuzz target calls it
// directly.
func openBytes(name string, buf []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, &InvalidDatabaseError{Path: name, Err: err}
	}
	db := &DB{path: name, r: r, md: metadataOf(r.Metadata)}
	if err := db.validate(buf); err != nil {
		r.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) validate(buf []byte) error {
	md := db.r.Metadata
	invalid := func(format string, args ...any) error {
		return &InvalidDatabaseError{Path: db.path, Err: fmt.Errorf(format, args...)}
	}
	// Cheap metadata checks first, so that their clearer messages win over
	// whatever Verify would say about the same problem.
	switch {
	case md.IPVersion != 4 && md.IPVersion != 6:
		return invalid("ip_version is %d, want 4 or 6", md.IPVersion)
	case md.RecordSize != 24 && md.RecordSize != 28 && md.RecordSize != 32:
		return invalid("record_size is %d, want 24, 28 or 32", md.RecordSize)
	case md.BuildEpoch == 0:
		return invalid("build_epoch is 0: the file has no build time")
	case md.DatabaseType == "":
		return invalid("database_type is empty")
	}
	// maxminddb's Verify and the walk of the tree below are independent
	// reads of buf: run them side by side. Their errors are reported in the
	// order the checks are written, whichever finished first.
	verified := make(chan error, 1)
	go func() { verified <- db.r.Verify() }()
	tree, treeErr := newSearchTree(buf, md.NodeCount, md.RecordSize, md.IPVersion)
	var subs []subtree
	if treeErr == nil {
		// Walk the whole tree once without decoding anything: proves the
		// walk ends (see searchTree) and that every data pointer is in
		// bounds, so Networks cannot fail on the tree later; and counts
		// the networks of each subtree for CountryTable.
		subs, treeErr = tree.split()
	}
	if err := <-verified; err != nil {
		return invalid("%w", err)
	}
	for _, t := range noCountryTypes {
		if strings.EqualFold(md.DatabaseType, t) {
			return &NoCountryDataError{Path: db.path, Metadata: db.md}
		}
	}
	if treeErr != nil {
		return invalid("%w", treeErr)
	}
	db.tree, db.subtrees = tree, subs
	// Scan until the first network with a country. A country database finds
	// one at once; a database without any is walked to its end, which the
	// tree walk bounds by the node count.
	for n, err := range db.Networks() {
		if err != nil {
			var ie *InvalidDatabaseError
			if errors.As(err, &ie) {
				return err
			}
			return invalid("%w", err)
		}
		if n.Country != "" {
			return nil
		}
	}
	return &NoCountryDataError{Path: db.path, Metadata: db.md}
}

func metadataOf(m maxminddb.Metadata) Metadata {
	return Metadata{
		DatabaseType: m.DatabaseType,
		Description:  m.Description["en"],
		BuildTime:    time.Unix(int64(m.BuildEpoch), 0).UTC(),
		IPVersion:    int(m.IPVersion),
		NodeCount:    m.NodeCount,
		RecordSize:   int(m.RecordSize),
	}
}

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Metadata returns the database's metadata.
func (db *DB) Metadata() Metadata { return db.md }

// Close releases the database. Using it afterwards returns ErrClosed.
func (db *DB) Close() error {
	if db.r == nil {
		return nil
	}
	err := db.r.Close()
	db.r = nil
	db.tree, db.subtrees = searchTree{}, nil
	return err
}

// Lookup returns the country of ip.
//
// An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is judged as the IPv4
// address it maps, as the datapath sees IPv4 packets. An IPv6 address in an
// IPv4-only database has no country; its Network is ::/0.
func (db *DB) Lookup(ip netip.Addr) (Result, error) {
	if !ip.IsValid() {
		return Result{}, errors.New("geoip lookup: invalid IP address")
	}
	if db.r == nil {
		return Result{}, ErrClosed
	}
	ip = ip.Unmap().WithZone("")
	res := Result{IP: ip}
	if ip.Is6() && db.md.IPVersion == 4 {
		res.Network = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		return res, nil
	}
	r := db.r.Lookup(ip)
	if err := r.Err(); err != nil {
		return Result{}, fmt.Errorf("geoip lookup %s in %s: %w", ip, db.path, err)
	}
	res.Network = r.Prefix()
	if ip.Is4() && !res.Network.Addr().Is4() {
		// The IPv4 subtree itself is a leaf of a shorter IPv6 network
		// (::/d with d < 96): all of IPv4 is in it.
		res.Network = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if !r.Found() {
		return res, nil
	}
	c, err := db.decode(uint(r.Offset()))
	if err != nil {
		return Result{}, err
	}
	res.Country, res.Source = c.country, c.source
	return res, nil
}

// record holds the only fields read from a data record; the decoder skips
// everything else (names in many languages, subdivisions, location) without
// building it.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	CountryCode string `maxminddb:"country_code"`
}

type country struct {
	country string
	source  Source
}

// decode reads the country of the data record at offset (relative to the
// data section).
func (db *DB) decode(offset uint) (country, error) {
	var rec record
	if err := db.r.LookupOffset(uintptr(offset)).Decode(&rec); err != nil {
		return country{}, &InvalidDatabaseError{Path: db.path, Err: fmt.Errorf("data record at offset %d: %w", offset, err)}
	}
	var c country
	switch {
	case rec.Country.ISOCode != "":
		c = country{rec.Country.ISOCode, SourceCountry}
	case rec.RegisteredCountry.ISOCode != "":
		c = country{rec.RegisteredCountry.ISOCode, SourceRegisteredCountry}
	case rec.CountryCode != "":
		c = country{rec.CountryCode, SourceCountryCode}
	default:
		return country{}, nil
	}
	code, ok := isoCode(c.country)
	if !ok {
		// The datapath stores countries as two letters; anything else would
		// be silently truncated or collide there.
		return country{}, &InvalidDatabaseError{Path: db.path,
			Err: fmt.Errorf("data record at offset %d: %s %q is not an ISO 3166-1 alpha-2 code", offset, c.source, c.country)}
	}
	c.country = code
	return c, nil
}

// isoCode returns s in upper case if it is two ASCII letters.
func isoCode(s string) (string, bool) {
	if len(s) != 2 {
		return "", false
	}
	var b [2]byte
	for i := range 2 {
		switch ch := s[i]; {
		case ch >= 'A' && ch <= 'Z':
			b[i] = ch
		case ch >= 'a' && ch <= 'z':
			b[i] = ch - 'a' + 'A'
		default:
			return "", false
		}
	}
	if string(b[:]) == s {
		return s, true // common case: no allocation
	}
	return string(b[:]), true
}

// dataSectionSize returns the size of the data section of buf: between the
// search tree plus its 16-byte separator and the metadata marker.
func dataSectionSize(buf []byte, treeSize uint) (uint, error) {
	m := bytes.LastIndex(buf, metadataMarker)
	if m < 0 {
		return 0, errors.New("no metadata marker")
	}
	start := treeSize + 16
	if uint(m) < start {
		return 0, errors.New("search tree overlaps metadata")
	}
	return uint(m) - start, nil
}
