package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the harness's settings, validated once by parseFlags.
type config struct {
	out        string        // -out: JSON rows; the plot goes to out+".png"
	short      bool          // -short: fewer rates, shorter windows (make bench)
	window     time.Duration // -window: measurement per attack rate
	warm       time.Duration // settling time before each window
	rates      []float64     // -rates: attack rates in pps; 0 none, unpaced = -1
	repeats    int           // -repeats: windows at the unpaced rate (the median is reported)
	methods    []string      // -methods
	legitRate  float64       // -legit-rate
	legitConns int           // -legit-conns
}

// unpaced is the rate value for "as fast as the generator goes".
const unpaced = -1

var allMethods = []string{"none", "nftables", "iptables", "xdp_generic", "xdp_native", "xdp_floor"}

// Defaults: the full run takes about 4 minutes, -short about a minute.
const (
	defaultRates      = "0,250k,500k,1M,2M,3M,4M,max"
	shortRates        = "0,1M,max"
	defaultWindow     = 3 * time.Second
	shortWindow       = 1500 * time.Millisecond
	defaultRepeats    = 3
	defaultLegitRate  = 4000
	defaultLegitConns = 32
)

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: attack [flags]   (as root; see README, Performance)\n\n"+
			"Floods a protected host in a lab of network namespaces and measures the\n"+
			"drop rate, the CPU it costs and the legitimate transactions held, with no\n"+
			"filter, nftables, iptables + ipset and enforcer's XDP program.\n\n")
		fs.PrintDefaults()
	}
	var c config
	var rates, methods string
	fs.StringVar(&c.out, "out", "", "write the rows as JSON to this file and the plot to FILE.png")
	fs.BoolVar(&c.short, "short", false, "rates "+shortRates+", "+shortWindow.String()+" windows, one at the top rate (about a minute)")
	fs.DurationVar(&c.window, "window", defaultWindow, "measurement window per attack rate (default with -short: "+shortWindow.String()+")")
	fs.StringVar(&rates, "rates", defaultRates, "attack rates in packets/s (k and M suffixes; max: as fast as the generator goes) (default with -short: "+shortRates+")")
	fs.IntVar(&c.repeats, "repeats", defaultRepeats, "windows at the unpaced rate per method; the median by drop rate per core is reported (default with -short: 1)")
	fs.StringVar(&methods, "methods", strings.Join(allMethods, ","), "enforcement methods to measure")
	fs.Float64Var(&c.legitRate, "legit-rate", defaultLegitRate, "legitimate transactions/s offered, all connections together")
	fs.IntVar(&c.legitConns, "legit-conns", defaultLegitConns, "legitimate client connections")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.short {
		if !set["window"] {
			c.window = shortWindow
		}
		if !set["rates"] {
			rates = shortRates
		}
		if !set["repeats"] {
			c.repeats = 1
		}
	}
	c.warm = c.window / 6
	if c.window < 500*time.Millisecond {
		return config{}, fmt.Errorf("-window %v: want at least 500ms", c.window)
	}
	var err error
	if c.rates, err = parseRates(rates); err != nil {
		return config{}, fmt.Errorf("-rates: %w", err)
	}
	for _, m := range strings.Split(methods, ",") {
		if !slices.Contains(allMethods, m) {
			return config{}, fmt.Errorf("-methods: unknown method %q (want some of %s)", m, strings.Join(allMethods, ","))
		}
		c.methods = append(c.methods, m)
	}
	if c.repeats < 1 {
		return config{}, fmt.Errorf("-repeats %d: want 1 or more", c.repeats)
	}
	if c.legitRate <= 0 || c.legitConns <= 0 {
		return config{}, fmt.Errorf("-legit-rate and -legit-conns must be positive")
	}
	return c, nil
}

// parseRates parses "0,250k,1M,max".
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "max" {
			out = append(out, unpaced)
			continue
		}
		mult := 1.0
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1e3, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1e6, strings.TrimSuffix(f, "M")
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("rate %q: want a number of packets/s (250k, 1M) or max", f)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

// rateLabel names a rate in row names: "0", "250k", "1M", "max".
func rateLabel(r float64) string {
	switch {
	case r == unpaced:
		return "max"
	case r >= 1e6 && r == float64(int64(r/1e6))*1e6:
		return fmt.Sprintf("%dM", int64(r/1e6))
	case r >= 1e3 && r == float64(int64(r/1e3))*1e3:
		return fmt.Sprintf("%dk", int64(r/1e3))
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
