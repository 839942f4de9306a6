package geoip_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/test/geodata"
)

// Full scale: the size of GeoLite2-Country.
const (
	fullScaleV4 = 607000
	fullScaleV6 = 652000
)

var fullScale struct {
	once sync.Once
	dir  string
	path string
	want int
}

// TestMain removes the full-scale database the benchmarks share.
func TestMain(m *testing.M) {
	code := m.Run()
	if fullScale.dir != "" {
		os.RemoveAll(fullScale.dir)
	}
	os.Exit(code)
}

// mustFullScale writes a full-scale database once per test binary (it
// takes seconds) and returns its path and network count.
func mustFullScale(b *testing.B) (string, int) {
	b.Helper()
	fullScale.once.Do(func() {
		dir, err := os.MkdirTemp("", "geoip-bench-")
		if err != nil {
			b.Fatal(err)
		}
		fullScale.dir = dir
		fullScale.path = filepath.Join(dir, "GeoLite2-Country.mmdb")
		start := time.Now()
		nets := geodata.Generate(7, fullScaleV4, fullScaleV6)
		fullScale.want = len(geoiptest.WriteDB(b, fullScale.path, nets, geoiptest.Options{}))
		b.Logf("wrote %d generated networks (%d after merging) in %v", len(nets), fullScale.want, time.Since(start))
	})
	if fullScale.path == "" {
		b.Fatal("full-scale database was not written")
	}
	return fullScale.path, fullScale.want
}

// BenchmarkReadFullScale reads every network of a full-scale database, as
// the table compiler does on each update.
func BenchmarkReadFullScale(b *testing.B) {
	path, want := mustFullScale(b)
	db, err := geoip.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, err := range db.Networks() {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != want {
			b.Fatalf("read %d networks, want %d", n, want)
		}
	}
	b.ReportMetric(float64(want), "networks")
}

// BenchmarkOpenFullScale opens (reads and fully validates) a full-scale
// database.
func BenchmarkOpenFullScale(b *testing.B) {
	path, _ := mustFullScale(b)
	b.ResetTimer()
	for b.Loop() {
		db, err := geoip.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// BenchmarkLookup looks up one address of a full-scale database.
func BenchmarkLookup(b *testing.B) {
	path, _ := mustFullScale(b)
	db, err := geoip.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ip := addr("81.2.69.142")
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.Lookup(ip); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountryTableFullScale opens a full-scale database and reads its
// country table: the "read" of a GeoIP update (test/bench geoip).
func BenchmarkCountryTableFullScale(b *testing.B) {
	path, want := mustFullScale(b)
	b.ResetTimer()
	for b.Loop() {
		db, err := geoip.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		nets, err := db.CountryTable()
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(nets) != want {
			b.Fatalf("read %d networks, want %d", len(nets), want)
		}
	}
	b.ReportMetric(float64(want), "networks")
}
