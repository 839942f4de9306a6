package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
)

type fakeSource struct {
	c   loader.Counters
	err error
}

func (f *fakeSource) Counters() (loader.Counters, error) { return f.c, f.err }

func TestCollector(t *testing.T) {
	src := &fakeSource{c: loader.Counters{
		Verdicts: map[loader.CounterKey]loader.Count{
			{Service: 1, Action: policy.Drop, Reason: policy.ReasonNotInSet}:  {Packets: 3, Bytes: 180},
			{Service: 1, Action: policy.Pass, Reason: policy.ReasonCountry}:   {Packets: 5, Bytes: 300},
			{Service: 0, Action: policy.Drop, Reason: policy.ReasonMalformed}: {Packets: 1, Bytes: 60},
			{Service: 9, Action: policy.Pass, Reason: policy.ReasonAllowlist}: {Packets: 2, Bytes: 120},
		},
		CountryDrops: map[string]loader.Count{"CN": {Packets: 3, Bytes: 180}},
	}}
	built := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := New(src, func() Info {
		return Info{ServiceNames: map[uint8]string{1: "imap"}, GeoIPBuilt: built, TableCells: 100, TableClasses: 7}
	})
	want := `
# HELP enforcer_packets_total Packets to protected services by service, verdict and reason (service "" holds fragments and malformed packets that name no service).
# TYPE enforcer_packets_total counter
enforcer_packets_total{reason="allowlist",service="id-9",verdict="pass"} 2
enforcer_packets_total{reason="country",service="imap",verdict="pass"} 5
enforcer_packets_total{reason="malformed",service="",verdict="drop"} 1
enforcer_packets_total{reason="not-in-set",service="imap",verdict="drop"} 3
# HELP enforcer_country_drops_total Dropped packets by the source's country ("" for sources without one).
# TYPE enforcer_country_drops_total counter
enforcer_country_drops_total{country="CN"} 3
# HELP enforcer_geoip_build_timestamp_seconds Build time of the loaded GeoIP database (absent when none is loaded).
# TYPE enforcer_geoip_build_timestamp_seconds gauge
enforcer_geoip_build_timestamp_seconds 1.7934912e+09
# HELP enforcer_collect_errors_total Scrapes that could not read the datapath's counters.
# TYPE enforcer_collect_errors_total counter
enforcer_collect_errors_total 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"enforcer_packets_total", "enforcer_country_drops_total", "enforcer_geoip_build_timestamp_seconds", "enforcer_collect_errors_total"); err != nil {
		t.Fatal(err)
	}
	src.err = errors.New("map gone")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather with a failing source: %v", err)
	}
	if got := testutil.ToFloat64(c.errors); got != 1 {
		t.Errorf("collect errors = %v, want 1", got)
	}
}
