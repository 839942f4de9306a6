// Command geodb writes the demo's GeoIP database: a MaxMind-format file
// (GeoLite2-Country schema) placing the demo lab's client addresses in
// countries, written with mmdbwriter. Usage: geodb FILE.
//
// It is part of the demo: no package imports it.
package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/mailgate/enforcer/geoip/geoiptest"
)

// The demo's sources (scripts/demo.sh): documentation ranges stand in for
// real networks.
var places = []struct{ prefix, country string }{
	{"203.0.113.0/24", "US"},   // the mobile email gateway's network
	{"198.51.100.0/28", "DE"},  // users at home
	{"198.51.100.16/28", "AT"}, // users travelling
	{"198.51.100.32/28", "KP"}, // an attacker abroad
	{"198.51.100.64/28", "DE"}, // a host on the deny list sits here
	// 198.51.100.48/28: no country (unknown network)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: geodb FILE")
		os.Exit(2)
	}
	var entries []geoiptest.Entry
	for _, p := range places {
		entries = append(entries, geoiptest.Entry{Prefix: netip.MustParsePrefix(p.prefix), Record: geoiptest.CountryRecord(p.country)})
	}
	if err := geoiptest.WriteFile(os.Args[1], entries, geoiptest.Options{DatabaseType: "GeoLite2-Country"}); err != nil {
		fmt.Fprintln(os.Stderr, "geodb:", err)
		os.Exit(1)
	}
}
