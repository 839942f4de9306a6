package geoip_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
)

// TestParallelWalkMatchesSequential checks that the parallel walk behind
// CountryTable yields exactly the networks of the sequential Networks: the
// same prefixes in the same order with the same countries and sources, IPv4
// once (not again under its aliases), on generated databases of both
// families and on the hand-made record shapes, with more workers than
// cores as well as one.
func TestParallelWalkMatchesSequential(t *testing.T) {
	gen := geodata.Generate(5, 20000, 20000)
	type db struct {
		name string
		path func(t *testing.T) string
	}
	written := func(opts geoiptest.Options) func(t *testing.T) string {
		return func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "gen.mmdb")
			geoiptest.WriteDB(t, path, gen, opts)
			return path
		}
	}
	entries := func(e []geoiptest.Entry, opts geoiptest.Options) func(t *testing.T) string {
		return func(t *testing.T) string { return mustWrite(t, e, opts) }
	}
	dbs := []db{
		{"generated ipv6 aliased 28", written(geoiptest.Options{})},
		{"generated ipv6 aliased 24", written(geoiptest.Options{RecordSize: 24})},
		{"generated ipv6 aliased 32", written(geoiptest.Options{RecordSize: 32})},
		{"generated ipv6 unaliased", written(geoiptest.Options{DisableIPv4Aliasing: true})},
		{"generated ipv4 only", written(geoiptest.Options{IPVersion: 4})},
		{"mixed records", entries(mixedEntries, geoiptest.Options{})},
		// A record above the cut that holds all of IPv4: it yields
		// 0.0.0.0/0 and ::/64.
		{"ipv4 subtree in one record", entries([]geoiptest.Entry{
			{Prefix: pfx("::/64"), Record: geoiptest.CountryRecord("DE")},
			{Prefix: pfx("2001:db8::/32"), Record: geoiptest.CountryRecord("US")},
		}, geoiptest.Options{DisableIPv4Aliasing: true})},
	}
	for _, tc := range dbs {
		t.Run(tc.name, func(t *testing.T) {
			d := mustOpen(t, tc.path(t))
			want := mustNetworks(t, d)
			if len(want) == 0 {
				t.Fatal("the database has no networks")
			}
			wantTable := make([]policy.Network, len(want))
			for i, n := range want {
				wantTable[i] = policy.Network{Prefix: n.Prefix, Country: n.Country}
			}
			for _, procs := range []int{1, 2, 5} {
				old := runtime.GOMAXPROCS(procs)
				got, err := geoip.ParallelNetworks(d)
				table, terr := d.CountryTable()
				runtime.GOMAXPROCS(old)
				if err != nil || terr != nil {
					t.Fatalf("GOMAXPROCS %d: parallel walk: %v; CountryTable: %v", procs, err, terr)
				}
				if diff := cmp.Diff(want, got, prefixComparer); diff != "" {
					t.Fatalf("GOMAXPROCS %d: parallel walk (-sequential +parallel):\n%s", procs, diff)
				}
				if diff := cmp.Diff(wantTable, table, prefixComparer); diff != "" {
					t.Fatalf("GOMAXPROCS %d: CountryTable (-sequential +parallel):\n%s", procs, diff)
				}
			}
		})
	}
}

// TestParallelWalkWholeIPv4Record pins the one shape where a record yields
// two networks: ::/64 holds the whole IPv4 subtree.
func TestParallelWalkWholeIPv4Record(t *testing.T) {
	d := mustOpen(t, mustWrite(t, []geoiptest.Entry{
		{Prefix: pfx("::/64"), Record: geoiptest.CountryRecord("DE")},
		{Prefix: pfx("2001:db8::/32"), Record: geoiptest.CountryRecord("US")},
	}, geoiptest.Options{DisableIPv4Aliasing: true}))
	got, err := geoip.ParallelNetworks(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []geoip.Network{
		{Prefix: pfx("0.0.0.0/0"), Country: "DE", Source: geoip.SourceCountry},
		{Prefix: pfx("::/64"), Country: "DE", Source: geoip.SourceCountry},
		{Prefix: pfx("2001:db8::/32"), Country: "US", Source: geoip.SourceCountry},
	}
	if diff := cmp.Diff(want, got, prefixComparer); diff != "" {
		t.Errorf("parallel walk (-want +got):\n%s", diff)
	}
}
