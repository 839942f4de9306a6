package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one reported figure, as test/bench writes them.
type Row struct {
	Name  string   `json:"name"`
	Value float64  `json:"value"`
	Unit  string   `json:"unit"`
	Ratio *float64 `json:"ratio,omitempty"` // against nftables in the same run
}

// report turns the measured points into a table, rows and a plot.
type report struct {
	cfg     config
	sc      *scenario
	results map[string][]point // by method name, in rate order
	methods []*method
	elapsed time.Duration
}

func (r *report) measured() []*method {
	var out []*method
	for _, m := range r.methods {
		if _, ok := r.results[m.name]; ok {
			out = append(out, m)
		}
	}
	return out
}

// at returns method m's point at rate; of repeated points, the median by
// drop rate per core (received rate per core for no filter).
func (r *report) at(m string, rate float64) (point, bool) {
	ps := r.all(m, rate)
	if len(ps) == 0 {
		return point{}, false
	}
	slices.SortFunc(ps, func(a, b point) int { return cmp.Compare(efficiency(a), efficiency(b)) })
	return ps[len(ps)/2], true
}

// all returns every point of method m at rate.
func (r *report) all(m string, rate float64) []point {
	var out []point
	for _, p := range r.results[m] {
		if p.target == rate {
			out = append(out, p)
		}
	}
	return out
}

// efficiency is packets handled per core: dropped, or received when
// nothing drops.
func efficiency(p point) float64 {
	if p.protCores <= 0 {
		return 0
	}
	if p.dropped > 0 {
		return p.dropped / p.protCores
	}
	return p.received / p.protCores
}

func perCore(p point) float64 {
	if p.protCores <= 0 {
		return 0
	}
	return p.dropped / p.protCores
}

// printTable prints one line per method at the highest attack rate, then
// the legitimate transactions per second at every rate.
func (r *report) printTable(w io.Writer) {
	fmt.Fprintf(w, "\nUnder attack: %d spoofed sources in %d countries; admitted: %d networks of a %d-network table in %d countries (%d aggregated prefixes in the nftables and ipset sets) and %d allowlisted\n",
		len(r.sc.Attack), r.sc.Countries(), r.sc.GeoNetworks, len(r.sc.Policy.Networks), len(allowedCountries),
		len(r.sc.Geo4)+len(r.sc.Geo6), len(r.sc.Allow4)+len(r.sc.Allow6))
	reps := ""
	if r.cfg.repeats > 1 {
		reps = fmt.Sprintf(", median of %d windows by drop rate per core", r.cfg.repeats)
	}
	fmt.Fprintf(w, "At the highest rate (generator unpaced%s); CPU = protected host (NAPI thread + ksoftirqd + servers), in cores:\n\n", reps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\toffered Mpps\treceived Mpps\tring full Mpps\tdropped Mpps\tCPU cores\tdropped Mpps/core\tvs nft\tlegit tx/s\tp50\tp99\t")
	base, hasBase := r.at(baseline, unpaced)
	for _, m := range r.measured() {
		p, ok := r.at(m.name, unpaced)
		if !ok {
			continue
		}
		vs := ""
		if hasBase && perCore(base) > 0 && m.name != "none" {
			vs = fmt.Sprintf("%.2fx", perCore(p)/perCore(base))
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%.0f\t%s\t%s\t\n", m.name,
			p.offered/1e6, p.received/1e6, p.ringFull/1e6, p.dropped/1e6, p.protCores, perCore(p)/1e6, vs, p.legitTPS, ms(p.p50), ms(p.p99))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nLegitimate transactions/s (%.0f offered on %d connections) by attack rate asked for:\n\n", r.cfg.legitRate, r.cfg.legitConns)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "method\t")
	for _, rate := range r.cfg.rates {
		fmt.Fprintf(tw, "%s\t", rateLabel(rate))
	}
	fmt.Fprintln(tw)
	for _, m := range r.measured() {
		fmt.Fprintf(tw, "%s\t", m.name)
		for _, rate := range r.cfg.rates {
			p, _ := r.at(m.name, rate)
			fmt.Fprintf(tw, "%.0f\t", p.legitTPS)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// rows are the figures as JSON rows; ratios compare with nftables at the
// same rate in this run.
func (r *report) rows() []Row {
	var rows []Row
	add := func(name string, v float64, unit string, base float64, hasBase bool) {
		row := Row{Name: name, Value: v, Unit: unit}
		if hasBase && base != 0 {
			ratio := v / base
			row.Ratio = &ratio
		}
		rows = append(rows, row)
	}
	add("attack.sources", float64(len(r.sc.Attack)), "addresses", 0, false)
	add("attack.sources.countries", float64(r.sc.Countries()), "countries", 0, false)
	add("attack.policy.table", float64(len(r.sc.Policy.Networks)), "networks", 0, false)
	add("attack.policy.admitted", float64(r.sc.GeoNetworks), "networks", 0, false)
	add("attack.policy.set_prefixes", float64(len(r.sc.Geo4)+len(r.sc.Geo6)+len(r.sc.Allow4)+len(r.sc.Allow6)), "prefixes", 0, false)
	if p, ok := r.at("none", unpaced); ok {
		// The generator's own rate, with nothing filtering.
		add("attack.generator.max", p.offered, "pps", 0, false)
	}
	base, hasBase := r.at(baseline, unpaced)
	for _, m := range r.measured() {
		p, ok := r.at(m.name, unpaced)
		if !ok {
			continue
		}
		cmp := hasBase && m.name != baseline
		pre := "attack." + m.name + ".max."
		add(pre+"offered", p.offered, "pps", 0, false)
		add(pre+"received", p.received, "pps", base.received, cmp)
		add(pre+"ring_full", p.ringFull, "pps", 0, false)
		add(pre+"cpu", p.protCores, "cores", base.protCores, cmp)
		add(pre+"cpu_napi", p.napiCores, "cores", base.napiCores, cmp)
		add(pre+"cpu_busy_procstat", p.cpuBusy*100, "%", 0, false)
		add(pre+"cpu_steal_procstat", p.steal*100, "%", 0, false)
		if m.name == "none" {
			add(pre+"received_per_core", p.received/max(p.protCores, 1e-9), "pps/core", 0, false)
		} else {
			add(pre+"dropped", p.dropped, "pps", base.dropped, cmp)
			add(pre+"dropped_per_core", perCore(p), "pps/core", perCore(base), cmp)
			if reps := r.all(m.name, unpaced); len(reps) > 1 {
				lo, hi := perCore(reps[0]), perCore(reps[0])
				for _, q := range reps {
					lo, hi = min(lo, perCore(q)), max(hi, perCore(q))
				}
				add(pre+"dropped_per_core.lowest", lo, "pps/core", 0, false)
				add(pre+"dropped_per_core.highest", hi, "pps/core", 0, false)
			}
		}
		if zero, ok := r.at(m.name, 0); ok && zero.legitTPS > 0 {
			add(pre+"legit_held", 100*p.legitTPS/zero.legitTPS, "%", 0, false)
		}
		add(pre+"legit_p50", float64(p.p50)/float64(time.Millisecond), "ms", float64(base.p50)/float64(time.Millisecond), cmp)
		add(pre+"legit_p99", float64(p.p99)/float64(time.Millisecond), "ms", float64(base.p99)/float64(time.Millisecond), cmp)
		for _, rate := range r.cfg.rates {
			q, ok := r.at(m.name, rate)
			if !ok {
				continue
			}
			b, hasB := r.at(baseline, rate)
			add("attack."+m.name+".legit_tps.at_"+rateLabel(rate), q.legitTPS, "tx/s", b.legitTPS, hasB && m.name != baseline)
		}
	}
	add("attack.run", r.elapsed.Seconds(), "s", 0, false)
	return rows
}

// ms formats a latency for the table.
func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
}

func printRows(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tvalue\tunit\tratio\t")
	for _, r := range rows {
		ratio := ""
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t\n", r.Name, r.Value, r.Unit, ratio)
	}
	tw.Flush()
}

// lineStyle keeps each method's colour from plot to plot.
var lineStyle = map[string]string{
	"none":        `lc rgb "#7f7f7f" pt 1`,
	"nftables":    `lc rgb "#2ca02c" pt 2`,
	"iptables":    `lc rgb "#1f77b4" pt 3`,
	"xdp_generic": `lc rgb "#ff7f0e" pt 4`,
	"xdp_native":  `lc rgb "#d62728" pt 5`,
	"xdp_floor":   `lc rgb "#000000" pt 6 dt 2`,
}

// plot draws legitimate transactions/s against the attack rate offered,
// one line per method, with gnuplot.
func (r *report) plot(png, dir string) error {
	data := filepath.Join(dir, "plot.dat")
	var b strings.Builder
	var plots []string
	i := 0
	for _, m := range r.measured() {
		fmt.Fprintf(&b, "# %s\n", m.name)
		for _, rate := range r.cfg.rates {
			if p, ok := r.at(m.name, rate); ok {
				fmt.Fprintf(&b, "%.4f %.1f\n", p.offered/1e6, p.legitTPS)
			}
		}
		b.WriteString("\n\n")
		plots = append(plots, fmt.Sprintf("%q index %d using 1:2 with linespoints lw 2 %s title %q", data, i, lineStyle[m.name], m.label))
		i++
	}
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		return err
	}
	script := fmt.Sprintf(`set terminal pngcairo size 1000,600 font ",11"
set output %q
set title "Legitimate transactions/s held under a SYN + UDP flood from %d spoofed sources in %d countries"
set xlabel "attack rate offered (Mpps)"
set ylabel "legitimate transactions/s"
set yrange [0:%f]
set xrange [0:*]
set grid
set key below
plot %s
`, png, len(r.sc.Attack), r.sc.Countries(), r.cfg.legitRate*1.15, strings.Join(plots, ", \\\n  "))
	sp := filepath.Join(dir, "plot.gp")
	if err := os.WriteFile(sp, []byte(script), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("gnuplot", sp).CombinedOutput(); err != nil {
		return fmt.Errorf("gnuplot: %w: %s", err, out)
	}
	return nil
}
