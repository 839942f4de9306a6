// Package metrics exposes the datapath to Prometheus: a collector that reads
// the per-CPU BPF counters at scrape time (nothing is copied in between, so
// a scrape always sees the kernel's current totals), plus the size of the
// loaded source table and the GeoIP database's build time.
//
// It reads the datapath and what its caller passes in (Info); it must not
// know the config file or the daemon.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/enforcer/loader"
)

// Source is what the collector reads; *loader.Datapath is one, tests use
// fakes.
type Source interface {
	Counters() (loader.Counters, error)
}

// Info is the daemon's view of names and the loaded data, read at scrape
// time.
type Info struct {
	ServiceNames map[uint8]string // datapath id -> service name
	GeoIPBuilt   time.Time        // zero: no database loaded
	TableCells   int              // source table size in 32-byte cells
	TableClasses int
}

// Collector is a prometheus.Collector for the datapath.
type Collector struct {
	src  Source
	info func() Info

	packets, bytes, countryDrops *prometheus.Desc
	geoipBuilt, cells, classes   *prometheus.Desc
	errors                       prometheus.Counter
}

// New returns a collector reading src; info is called once per scrape.
func New(src Source, info func() Info) *Collector {
	return &Collector{
		src:  src,
		info: info,
		packets: prometheus.NewDesc("enforcer_packets_total",
			"Packets to protected services by service, verdict and reason (service \"\" holds fragments and malformed packets that name no service).",
			[]string{"service", "verdict", "reason"}, nil),
		bytes: prometheus.NewDesc("enforcer_bytes_total",
			"Bytes (whole frames) to protected services by service, verdict and reason.",
			[]string{"service", "verdict", "reason"}, nil),
		countryDrops: prometheus.NewDesc("enforcer_country_drops_total",
			"Dropped packets by the source's country (\"\" for sources without one).",
			[]string{"country"}, nil),
		geoipBuilt: prometheus.NewDesc("enforcer_geoip_build_timestamp_seconds",
			"Build time of the loaded GeoIP database (absent when none is loaded).", nil, nil),
		cells: prometheus.NewDesc("enforcer_source_table_cells",
			"Size of the loaded source table in 32-byte cells.", nil, nil),
		classes: prometheus.NewDesc("enforcer_source_table_classes",
			"Distinct (country, deny, allowlist) source classes in the loaded table.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "enforcer_collect_errors_total",
			Help: "Scrapes that could not read the datapath's counters.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.countryDrops, c.geoipBuilt, c.cells, c.classes} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	info := c.info()
	if cs, err := c.src.Counters(); err != nil {
		c.errors.Inc()
	} else {
		for k, v := range cs.Verdicts {
			svc := info.ServiceNames[k.Service]
			if svc == "" && k.Service != 0 {
				svc = "id-" + strconv.Itoa(int(k.Service))
			}
			labels := []string{svc, k.Action.String(), k.Reason.String()}
			ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(v.Packets), labels...)
			ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(v.Bytes), labels...)
		}
		for cc, v := range cs.CountryDrops {
			ch <- prometheus.MustNewConstMetric(c.countryDrops, prometheus.CounterValue, float64(v.Packets), cc)
		}
	}
	if !info.GeoIPBuilt.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.geoipBuilt, prometheus.GaugeValue, float64(info.GeoIPBuilt.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(c.cells, prometheus.GaugeValue, float64(info.TableCells))
	ch <- prometheus.MustNewConstMetric(c.classes, prometheus.GaugeValue, float64(info.TableClasses))
	c.errors.Collect(ch)
}
