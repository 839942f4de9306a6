package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/store"
)

const testConfig = `
interfaces: [eth0]
deny: [192.0.2.66]
services:
  - name: imap
    countries: [DE]
    allow: [198.51.100.128/25]
  - name: admin
    allow: [198.51.100.200/32]
`

func mustPolicy(t *testing.T, st store.State) (*policy.Policy, *policy.Model) {
	t.Helper()
	cfg, err := config.Parse("enforcer.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := config.AssignIDs(nil, cfg.IDNames())
	if err != nil {
		t.Fatal(err)
	}
	nets := []policy.Network{
		{Prefix: netip.MustParsePrefix("198.51.100.0/25"), Country: "DE"},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Country: "AT"},
	}
	p, m, err := Compose(cfg, st, ids, nets)
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func TestComposeAppliesState(t *testing.T) {
	st := store.State{
		Allow:     map[string][]store.Entry{"imap": {{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}},
		Deny:      []store.Entry{{Prefix: netip.MustParsePrefix("198.51.100.7/32")}},
		Countries: map[string]store.CountryOverride{"imap": {Added: []string{"AT"}, Removed: []string{"DE"}}},
	}
	p, m := mustPolicy(t, st)
	var imap *policy.Service
	for i := range p.Services {
		if p.Services[i].Name == "imap" {
			imap = &p.Services[i]
		}
	}
	if imap == nil || !slices.Equal(imap.Countries, []string{"AT"}) || len(imap.Allow) != 2 {
		t.Fatalf("imap after state: %+v", imap)
	}
	if len(p.Deny) != 2 {
		t.Fatalf("deny after state: %v", p.Deny)
	}
	dst := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		src    string
		reason policy.Reason
	}{
		{"10.1.2.3", policy.ReasonAllowlist},    // added allow entry
		{"203.0.113.9", policy.ReasonCountry},   // added country
		{"198.51.100.9", policy.ReasonNotInSet}, // removed country
		{"198.51.100.7", policy.ReasonDeny},     // added deny entry
	} {
		if v := m.JudgeFlow(netip.MustParseAddr(tc.src), dst, policy.TCP, 993); v.Reason != tc.reason {
			t.Errorf("%s: %v, want %v", tc.src, v, tc.reason)
		}
	}
}

func TestCheck(t *testing.T) {
	p, m := mustPolicy(t, store.State{})
	for _, tc := range []struct {
		ip, service, port, proto string
		verdict, reason, rule    string
	}{
		{"198.51.100.9", "imap", "", "", "pass", "country", "country DE is in imap's set"},
		{"203.0.113.9", "imap", "", "", "drop", "not-in-set", "country AT is not in imap's set"},
		{"198.51.100.130", "", "993", "tcp", "pass", "allowlist", "allowlist entry 198.51.100.128/25 of imap"},
		{"192.0.2.66", "admin", "", "", "drop", "deny", "deny list entry 192.0.2.66/32"},
		{"198.51.100.9", "admin", "", "", "drop", "not-in-set", "admin admits only its allowlist"},
		{"8.8.8.8", "imap", "", "", "drop", "no-country", "has no country"},
		{"198.51.100.9", "", "25", "", "pass", "untouched", "not a protected service"},
		{"::ffff:198.51.100.9", "imap", "", "", "pass", "country", ""},
	} {
		r, err := Check(p, m, tc.ip, tc.service, tc.port, tc.proto)
		if err != nil {
			t.Errorf("Check(%s, %s, %s): %v", tc.ip, tc.service, tc.port, err)
			continue
		}
		if r.Verdict != tc.verdict || r.Reason != tc.reason || !strings.Contains(r.Rule, tc.rule) {
			t.Errorf("Check(%s, %s, %s) = %+v, want %s %s %q", tc.ip, tc.service, tc.port, r, tc.verdict, tc.reason, tc.rule)
		}
	}
	for _, tc := range []struct{ ip, service, port, proto, want string }{
		{"300.1.1.1", "imap", "", "", "not an IP address"},
		{"192.0.2.1", "nope", "", "", `no enforced service "nope"`},
		{"192.0.2.1", "", "99999", "", "want a port number"},
		{"192.0.2.1", "", "993", "sctp", "want tcp or udp"},
		{"192.0.2.1", "imap", "993", "", "not both"},
		{"192.0.2.1", "", "", "", "say what to check"},
	} {
		if _, err := Check(p, m, tc.ip, tc.service, tc.port, tc.proto); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q, %q, %q, %q): %v, want error containing %q", tc.ip, tc.service, tc.port, tc.proto, err, tc.want)
		}
	}
}

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
