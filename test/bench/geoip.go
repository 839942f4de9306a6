package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailgate/enforcer/geoip"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
)

// geoipRows times what a GeoIP update costs the running datapath: read the
// full-scale database, compile it, switch it in; and, in the same run, the
// same country sets loaded into nftables interval sets with `nft -f`, the
// baseline an operator would otherwise use.
func geoipRows() ([]Row, error) {
	dir, err := os.MkdirTemp("", "enforcer-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "GeoLite2-Country.mmdb")
	nets := geodata.Generate(7, fullV4, fullV6)
	if _, err := geoiptest.WriteDBFile(path, nets, geoiptest.Options{}); err != nil {
		return nil, err
	}
	d, err := loader.Load(loader.Options{})
	if err != nil {
		return nil, err
	}
	defer d.Close()

	var reads, compiles, swaps, totals []time.Duration
	var count int
	for range 3 {
		t0 := time.Now()
		db, err := geoip.Open(path)
		if err != nil {
			return nil, err
		}
		table, err := db.CountryTable()
		db.Close()
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		t, err := loader.Compile(&policy.Policy{Networks: table})
		if err != nil {
			return nil, err
		}
		t2 := time.Now()
		if err := d.SwapSources(t); err != nil {
			return nil, err
		}
		t3 := time.Now()
		reads, compiles, swaps, totals = append(reads, t1.Sub(t0)), append(compiles, t2.Sub(t1)), append(swaps, t3.Sub(t2)), append(totals, t3.Sub(t0))
		count = len(table)
	}
	total := median(totals)
	rows := []Row{
		{Name: "geoip.full.networks", Value: float64(count), Unit: "networks"},
		{Name: "geoip.full.read", Value: median(reads).Seconds(), Unit: "s"},
		{Name: "geoip.full.compile", Value: median(compiles).Seconds(), Unit: "s"},
		{Name: "geoip.full.switch", Value: median(swaps).Seconds(), Unit: "s"},
	}

	// The baseline: the same networks for one country, and for the half of
	// the countries the datapath benchmark's service admits.
	half := map[string]bool{}
	for _, c := range geodata.Countries[:len(geodata.Countries)/2] {
		half[c] = true
	}
	for _, set := range []struct {
		name string
		in   func(string) bool
	}{
		{"one_country", func(c string) bool { return c == "US" }},
		{"half_countries", func(c string) bool { return half[c] }},
	} {
		var n int
		file := filepath.Join(dir, set.name+".nft")
		if n, err = writeNftSet(file, nets, set.in); err != nil {
			return nil, err
		}
		dur, err := nftLoad(file)
		if err != nil {
			return nil, err
		}
		ratio := total.Seconds() / dur.Seconds()
		rows = append(rows,
			Row{Name: "nft.load." + set.name, Value: dur.Seconds(), Unit: "s"},
			Row{Name: "nft.load." + set.name + ".elements", Value: float64(n), Unit: "prefixes"},
			Row{Name: "geoip.full.read_compile_switch_vs_nft_" + set.name, Value: total.Seconds(), Unit: "s", Ratio: &ratio},
		)
	}
	return rows, nil
}

// writeNftSet writes a ruleset that drops tcp/993 from outside an interval
// set holding the networks whose country passes in.
func writeNftSet(path string, nets []geodata.Network, in func(string) bool) (int, error) {
	var v4, v6 []string
	for _, n := range nets {
		if n.Country == "" || !in(n.Country) {
			continue
		}
		if n.Prefix.Addr().Is4() {
			v4 = append(v4, n.Prefix.String())
		} else {
			v6 = append(v6, n.Prefix.String())
		}
	}
	var b strings.Builder
	b.WriteString("table inet enforcer_bench {\n")
	for _, s := range []struct {
		name, typ string
		elems     []string
	}{{"geo4", "ipv4_addr", v4}, {"geo6", "ipv6_addr", v6}} {
		fmt.Fprintf(&b, "  set %s {\n    type %s\n    flags interval\n", s.name, s.typ)
		if len(s.elems) > 0 {
			fmt.Fprintf(&b, "    elements = { %s }\n", strings.Join(s.elems, ",\n      "))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  chain input {\n    type filter hook input priority 0; policy accept;\n" +
		"    tcp dport 993 ip saddr != @geo4 drop\n    tcp dport 993 ip6 saddr != @geo6 drop\n  }\n}\n")
	return len(v4) + len(v6), os.WriteFile(path, []byte(b.String()), 0o644)
}

// nftLoad times `nft -f path` inside a network namespace of its own, which
// is deleted afterwards: the host's ruleset is never touched.
func nftLoad(path string) (time.Duration, error) {
	ns := fmt.Sprintf("enforcer-bench-nft-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "delete", ns).Run()
	t0 := time.Now()
	if out, err := exec.Command("timeout", "600", "ip", "netns", "exec", ns, "nft", "-f", path).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("nft -f: %v: %.500s", err, out)
	}
	return time.Since(t0), nil
}
