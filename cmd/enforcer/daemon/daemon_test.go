package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
)

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes([]string{"192.0.2.0/24", " 2001:db8::1 ", "::ffff:192.0.2.7/128"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("192.0.2.7/32")}
	if !slices.Equal(got, want) {
		t.Errorf("parsePrefixes = %v, want %v", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1/8", "did you mean 10.0.0.0/8"},
		{"example.com", "not a CIDR prefix or address"},
		{"10.0.0.0/33", "not a CIDR prefix or address"},
	} {
		if _, err := parsePrefixes([]string{"192.0.2.0/24", tc.in}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("parsePrefixes(%q): %v, want error naming argument 2 and %q", tc.in, err, tc.want)
		}
	}
}

func TestStatsFrom(t *testing.T) {
	s := StatsFrom(loader.Counters{
		Verdicts: map[loader.CounterKey]loader.Count{
			{Service: 1, Action: policy.Drop, Reason: policy.ReasonNotInSet}:  {Packets: 2},
			{Service: 1, Action: policy.Pass, Reason: policy.ReasonCountry}:   {Packets: 5},
			{Service: 0, Action: policy.Drop, Reason: policy.ReasonMalformed}: {Packets: 1},
		},
		CountryDrops: map[string]loader.Count{"CN": {Packets: 2}, "": {Packets: 9}},
	}, map[uint8]string{1: "imap"})
	var rows []string
	for _, r := range s.Rows {
		rows = append(rows, r.Service+"/"+r.Verdict+"/"+r.Reason)
	}
	if want := []string{"-/drop/malformed", "imap/pass/country", "imap/drop/not-in-set"}; !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if s.Countries[0].Country != "-" || s.Countries[1].Country != "CN" {
		t.Errorf("countries not by packets: %+v", s.Countries)
	}
}

// TestParsePrefixesRange: `enforcer allow|deny add|remove` take address
// ranges as their minimal CIDR cover.
func TestParsePrefixesRange(t *testing.T) {
	got, err := parsePrefixes([]string{"192.0.2.0-192.0.2.130", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/31"), netip.MustParsePrefix("192.0.2.130/32"), netip.MustParsePrefix("2001:db8::1/128")}
	if !slices.Equal(got, want) {
		t.Errorf("parsePrefixes = %v, want %v", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.9-192.0.2.1", "reversed"},
		{"192.0.2.1-2001:db8::1", "mixes IPv4 and IPv6"},
		{"10.0.0.1-10.255.255.254", "more than 32 CIDR prefixes"},
	} {
		if _, err := parsePrefixes([]string{"192.0.2.0/24", tc.in}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("parsePrefixes(%q): %v, want error naming argument 2 and %q", tc.in, err, tc.want)
		}
	}
}
