// Command bench measures enforcer's hot paths and prints them as a table
// and, with -out, as a JSON array of rows {"name","value","unit","ratio"}.
// Figures are reported, never judged: `make bench` passes whatever they are.
// Ratios compare figures measured side by side in this one run.
//
// It needs root (BPF_PROG_TEST_RUN; the l7 suite raises RLIMIT_NOFILE and
// runs nginx, from `make deps`).
//
// It is a tool: no package imports it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/frames"
	"github.com/mailgate/enforcer/test/geodata"
)

// Row is one reported figure.
type Row struct {
	Name  string   `json:"name"`
	Value float64  `json:"value"`
	Unit  string   `json:"unit"`
	Ratio *float64 `json:"ratio,omitempty"` // against the baseline named in the row's doc
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == proxyChildArg {
		if err := runProxyChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench: proxy child:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "", "also write the rows as JSON to this file")
	sources := flag.Int("sources", 200, "random sources per scenario")
	repeat := flag.Int("repeat", 20000, "BPF_PROG_TEST_RUN repeats per source")
	short := flag.Bool("short", false, "fewer sources and repeats, shorter and smaller l7 runs (CI smoke run)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: bench [flags] [datapath] [geoip] [l7] [transforms]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *short {
		*sources, *repeat = 20, 2000
	}
	suites := flag.Args()
	if len(suites) == 0 {
		suites = []string{"datapath", "geoip", "l7", "transforms"}
	}
	var rows []Row
	for _, s := range suites {
		var r []Row
		var err error
		switch s {
		case "datapath":
			r, err = datapath(*sources, *repeat)
		case "geoip":
			r, err = geoipRows()
		case "l7":
			r, err = l7Rows(*short)
		case "transforms":
			r, err = transformRows(*short)
		default:
			err = fmt.Errorf("unknown suite %q (want datapath, geoip, l7 or transforms)", s)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", s, err)
			os.Exit(1)
		}
		rows = append(rows, r...)
	}
	print(rows)
	if *out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

func print(rows []Row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "name\tvalue\tunit\tratio\t")
	for _, r := range rows {
		ratio := ""
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(w, "%s\t%.3f\t%s\t%s\t\n", r.Name, r.Value, r.Unit, ratio)
	}
	w.Flush()
}

// Full scale: about what GeoLite2-Country holds.
const (
	fullV4 = 607000
	fullV6 = 652000
)

func datapath(nsrc, repeat int) ([]Row, error) {
	d, err := loader.Load(loader.Options{})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	nets := geodata.Generate(7, fullV4, fullV6)
	pol := &policy.Policy{}
	for _, n := range nets {
		pol.Networks = append(pol.Networks, policy.Network{Prefix: n.Prefix, Country: n.Country})
	}
	allowed := map[string]bool{}
	for _, c := range geodata.Countries[:len(geodata.Countries)/2] {
		allowed[c] = true
	}
	r := rand.New(rand.NewPCG(1, 2))
	// A realistic operator policy: dozens of allowlisted gateway ranges,
	// a few hundred denied hosts, half the countries admitted.
	imap := policy.Service{ID: 1, Name: "imaps", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, Geofenced: true}
	for c := range allowed {
		imap.Countries = append(imap.Countries, c)
	}
	for range 50 {
		imap.Allow = append(imap.Allow, policy.Normalize(randomNet(r, nets).Prefix))
	}
	for range 300 {
		n := randomNet(r, nets)
		a := geodata.RandomAddr(r, n.Prefix)
		pol.Deny = append(pol.Deny, netip.PrefixFrom(a, a.BitLen()))
	}
	pol.Services = []policy.Service{imap}
	m, err := policy.NewModel(pol)
	if err != nil {
		return nil, err
	}

	var rows []Row
	// Build and switch, three times each: the median.
	var builds, swaps []time.Duration
	var cells int
	var t *srctable.Table
	for range 3 {
		t0 := time.Now()
		t, err = loader.Compile(pol)
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		if err := d.SwapSources(t); err != nil {
			return nil, err
		}
		builds, swaps = append(builds, t1.Sub(t0)), append(swaps, time.Since(t1))
		cells = t.Stats().Cells
	}
	if err := d.Install(t, pol.Services); err != nil {
		return nil, err
	}
	rows = append(rows,
		Row{Name: "srctable.full.compile", Value: median(builds).Seconds(), Unit: "s"},
		Row{Name: "srctable.full.switch", Value: median(swaps).Seconds(), Unit: "s"},
		Row{Name: "srctable.full.size", Value: float64(cells*32) / (1 << 20), Unit: "MiB"},
	)

	dst4, dst6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	for _, fam := range []struct {
		name string
		v6   bool
		dst  netip.Addr
	}{{"v4", false, dst4}, {"v6", true, dst6}} {
		famNets := slices.DeleteFunc(slices.Clone(nets), func(n geodata.Network) bool { return n.Prefix.Addr().Is6() != fam.v6 })
		pick := func(ok func(a netip.Addr) bool) []netip.Addr {
			var out []netip.Addr
			for tries := 0; len(out) < nsrc && tries < 1000*nsrc; tries++ {
				a := geodata.RandomAddr(r, randomNet(r, famNets).Prefix)
				if ok(a) {
					out = append(out, a)
				}
			}
			return out
		}
		judged := func(reason policy.Reason) func(a netip.Addr) bool {
			return func(a netip.Addr) bool { return m.JudgeFlow(a, fam.dst, policy.TCP, 993).Reason == reason }
		}
		var allowSrc []netip.Addr
		for _, p := range imap.Allow {
			if p.Addr().Is6() == fam.v6 {
				allowSrc = append(allowSrc, geodata.RandomAddr(r, p))
			}
		}
		scenarios := []struct {
			name string
			port uint16
			srcs []netip.Addr
			want policy.Reason
		}{
			{"unprotected", 25, pick(func(netip.Addr) bool { return true }), policy.ReasonUntouched},
			{"allowlisted", 993, allowSrc, policy.ReasonAllowlist},
			{"geo_allowed", 993, pick(judged(policy.ReasonCountry)), policy.ReasonCountry},
			{"geo_dropped", 993, pick(judged(policy.ReasonNotInSet)), policy.ReasonNotInSet},
		}
		// Each scenario is measured beside the floor on the same frames,
		// source by source, so drift on a shared machine hits both.
		for _, sc := range scenarios {
			if len(sc.srcs) == 0 {
				return nil, fmt.Errorf("%s %s: no sources found", fam.name, sc.name)
			}
			var floor, cost []float64
			for _, src := range sc.srcs {
				frame := frames.Packet{Src: src, Dst: fam.dst, Proto: 6, SrcPort: 40000, DstPort: sc.port}.Build()
				if v := m.Judge(frame); v.Reason != sc.want {
					return nil, fmt.Errorf("%s %s: source %v judged %v", fam.name, sc.name, src, v)
				}
				f, err := perPacket(d.FloorProgram(), frame, repeat)
				if err != nil {
					return nil, err
				}
				c, err := perPacket(d.Program(), frame, repeat)
				if err != nil {
					return nil, err
				}
				floor, cost = append(floor, f), append(cost, c)
			}
			// The kernel reports whole nanoseconds per run; the mean over many
			// sources resolves finer than the median would.
			fl, co := mean(floor), mean(cost)
			ratio := co / fl
			if sc.name == "unprotected" {
				rows = append(rows, Row{Name: "xdp." + fam.name + ".floor", Value: fl, Unit: "ns/pkt"})
			}
			rows = append(rows, Row{Name: "xdp." + fam.name + "." + sc.name, Value: co, Unit: "ns/pkt", Ratio: &ratio})
		}
	}
	return rows, nil
}

// perPacket runs frame through prog repeat times in the kernel and returns
// the mean cost of one run.
func perPacket(prog *ebpf.Program, frame []byte, repeat int) (float64, error) {
	_, dur, err := prog.Benchmark(frame, repeat, nil)
	if err != nil {
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
	}
	return float64(dur.Nanoseconds()), nil
}

func randomNet(r *rand.Rand, nets []geodata.Network) geodata.Network {
	return nets[r.IntN(len(nets))]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(fs []float64) float64 {
	t := 0.0
	for _, f := range fs {
		t += f
	}
	return t / float64(len(fs))
}
