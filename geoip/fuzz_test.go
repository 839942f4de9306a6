package geoip

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// The internal tests cannot use geoiptest (it imports this package), so
// they build their small databases with mmdbwriter directly.

type seedNet struct {
	prefix string
	record mmdbtype.DataType
}

func mustBytes(tb testing.TB, opts mmdbwriter.Options, nets []seedNet) []byte {
	tb.Helper()
	opts.IncludeReservedNetworks = true
	if opts.DatabaseType == "" {
		opts.DatabaseType = "GeoLite2-Country"
	}
	if opts.BuildEpoch == 0 {
		opts.BuildEpoch = 1700000000
	}
	opts.Description = map[string]string{"en": "seed"}
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range nets {
		p := netip.MustParsePrefix(n.prefix)
		ipn := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipn, n.record); err != nil {
			tb.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func iso(code string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
}

// seeds are small databases of each shape the reader handles.
func seeds(tb testing.TB) map[string][]byte {
	return map[string][]byte{
		"country-v6": mustBytes(tb, mmdbwriter.Options{RecordSize: 24}, []seedNet{
			{"192.0.2.0/24", iso("DE")},
			{"198.51.100.0/24", mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}}},
			{"2001:db8::/32", iso("US")},
			{"2001:db8:1::/48", mmdbtype.Map{}},
		}),
		"flat-v4": mustBytes(tb, mmdbwriter.Options{IPVersion: 4, RecordSize: 28, DatabaseType: "dbip-country"}, []seedNet{
			{"203.0.113.0/24", mmdbtype.Map{"country_code": mmdbtype.String("SE")}},
			{"203.0.113.128/25", mmdbtype.Map{"country_code": mmdbtype.String("NO")}},
		}),
		"unaliased-v6-32": mustBytes(tb, mmdbwriter.Options{RecordSize: 32, DisableIPv4Aliasing: true}, []seedNet{
			{"::/8", iso("AQ")},
			{"3fff::/20", iso("CA")},
		}),
	}
}

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzOpen seed files")

// TestFuzzSeeds keeps the committed seed corpus in step with seeds():
// go test ./geoip -run TestFuzzSeeds -update-fuzz-seeds rewrites it.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	for name, b := range seeds(t) {
		// A seed that does not open would start the fuzzer on refusals only.
		db, err := openBytes(name, b)
		if err != nil {
			t.Fatalf("seed %s does not open: %v", name, err)
		}
		db.Close()
		path := filepath.Join(dir, name)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-fuzz-seeds)", err)
		}
		// Only the shape must match: build epochs and writer versions may
		// change the bytes.
		if !strings.HasPrefix(string(got), "go test fuzz v1\n[]byte(") {
			t.Errorf("%s is not a fuzz corpus file", path)
		}
	}
}

// FuzzOpen feeds untrusted bytes to the reader: opening, walking and
// looking up must never panic or hang, and must fail with one of the
// package's typed errors naming the file.
func FuzzOpen(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	probes := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:203.0.113.200"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2002:c000:201::"), netip.MustParseAddr("::"),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := openBytes("fuzz.mmdb", b)
		if err != nil {
			checkError(t, err)
			return
		}
		defer db.Close()
		// Each node adds at most two records to the walk, plus 0.0.0.0/0.
		limit := 2*db.md.NodeCount + 2
		var n uint
		var seq []Network
		var seqErr error
		for nw, err := range db.Networks() {
			if err != nil {
				checkError(t, err)
				seqErr = err
				break
			}
			seq = append(seq, nw)
			if n++; n > limit {
				t.Fatalf("more than %d networks from %d nodes", limit, db.md.NodeCount)
			}
			if !nw.Prefix.IsValid() || nw.Prefix != nw.Prefix.Masked() {
				t.Fatalf("network %v is not canonical", nw.Prefix)
			}
			if nw.Country != "" && len(nw.Country) != 2 {
				t.Fatalf("country %q", nw.Country)
			}
		}
		// The parallel walk behind CountryTable yields the same networks,
		// or fails on the same record.
		par, parErr := collect(db, func(n Network) Network { return n })
		switch {
		case seqErr != nil:
			if parErr == nil || parErr.Error() != seqErr.Error() {
				t.Fatalf("parallel walk: %v, sequential: %v", parErr, seqErr)
			}
		case parErr != nil:
			t.Fatalf("parallel walk: %v, sequential walk did not fail", parErr)
		case !slices.Equal(seq, par):
			t.Fatalf("parallel walk yields %d networks, sequential %d, or others", len(par), len(seq))
		}
		for _, ip := range probes {
			if r, err := db.Lookup(ip); err != nil {
				checkError(t, err)
			} else if !r.Network.IsValid() {
				t.Fatalf("Lookup(%v): no network", ip)
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var ie *InvalidDatabaseError
	var ne *NoCountryDataError
	if !errors.As(err, &ie) && !errors.As(err, &ne) && !strings.Contains(err.Error(), "geoip lookup") {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	if !strings.Contains(err.Error(), "fuzz.mmdb") {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// TestSharedNodesRefused builds a search tree whose nodes are shared (a
// DAG): a chain of 32 nodes, each with both records pointing to the next.
// maxminddb's Verify accepts it, and walking every path would take 2^32
// steps; Open must refuse it at once.
func TestSharedNodesRefused(t *testing.T) {
	b := mustBytes(t, mmdbwriter.Options{IPVersion: 4, RecordSize: 24}, []seedNet{
		{"192.0.2.1/32", iso("DE")},
	})
	r, err := openBytes("chain.mmdb", bytes.Clone(b))
	if err != nil {
		t.Fatalf("the unpatched database does not open: %v", err)
	}
	nodes := r.md.NodeCount
	r.Close()
	if nodes != 32 {
		t.Fatalf("%d nodes, want a chain of 32", nodes)
	}
	get := func(i int) uint { return uint(b[i])<<16 | uint(b[i+1])<<8 | uint(b[i+2]) }
	for n := range int(nodes) {
		l, r := n*6, n*6+3
		switch {
		case get(l) == nodes:
			copy(b[l:l+3], b[r:r+3])
		case get(r) == nodes:
			copy(b[r:r+3], b[l:l+3])
		}
	}
	_, err = openBytes("chain.mmdb", b)
	var ie *InvalidDatabaseError
	if !errors.As(err, &ie) || !errors.Is(err, errNotATree) {
		t.Fatalf("Open of a shared-node tree: %v, want %v", err, errNotATree)
	}
}
