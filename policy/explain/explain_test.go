package explain

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
	"github.com/mailgate/enforcer/policy/store"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// mustPolicy composes geofenced imap, admin by allowlist only, and a
// deny entry, over a two-network country table.
func mustPolicy(t *testing.T) (*policy.Policy, *policy.Model) {
	t.Helper()
	tcp := []policy.Proto{policy.TCP}
	r, err := compose.Compose(compose.Input{
		Deny: []netip.Prefix{pfx("192.0.2.66/32")},
		Services: []compose.Service{
			{Name: "imap", Protocols: tcp, Ports: []uint16{143, 993}, Countries: []string{"DE"}, Geofenced: true, Allow: []netip.Prefix{pfx("198.51.100.128/25")}},
			{Name: "admin", Protocols: tcp, Ports: []uint16{9443}, Allow: []netip.Prefix{pfx("198.51.100.200/32")}},
		},
		State: store.State{},
		Networks: []policy.Network{
			{Prefix: pfx("198.51.100.0/25"), Country: "DE"},
			{Prefix: pfx("203.0.113.0/24"), Country: "AT"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r.Policy, r.Model
}

func TestCheck(t *testing.T) {
	p, m := mustPolicy(t)
	for _, tc := range []struct {
		q                     Query
		verdict, reason, rule string
	}{
		{Query{IP: "198.51.100.9", Service: "imap"}, "pass", "country", "country DE is in imap's set"},
		{Query{IP: "203.0.113.9", Service: "imap"}, "drop", "not-in-set", "country AT is not in imap's set"},
		{Query{IP: "198.51.100.130", Port: "993", Proto: "tcp"}, "pass", "allowlist", "allowlist entry 198.51.100.128/25 of imap"},
		{Query{IP: "192.0.2.66", Service: "admin"}, "drop", "deny", "deny list entry 192.0.2.66/32"},
		{Query{IP: "198.51.100.9", Service: "admin"}, "drop", "not-in-set", "admin admits only its allowlist"},
		{Query{IP: "8.8.8.8", Service: "imap"}, "drop", "no-country", "has no country"},
		{Query{IP: "198.51.100.9", Port: "25"}, "pass", "untouched", "not a protected service"},
		{Query{IP: "::ffff:198.51.100.9", Service: "imap"}, "pass", "country", ""},
	} {
		r, err := Check(p, m, tc.q)
		if err != nil {
			t.Errorf("Check(%+v): %v", tc.q, err)
			continue
		}
		if r.Verdict != tc.verdict || r.Reason != tc.reason || !strings.Contains(r.Rule, tc.rule) {
			t.Errorf("Check(%+v) = %+v, want %s %s %q", tc.q, r, tc.verdict, tc.reason, tc.rule)
		}
	}
	for _, tc := range []struct {
		q    Query
		want string
	}{
		{Query{IP: "300.1.1.1", Service: "imap"}, "not an IP address"},
		{Query{IP: "192.0.2.1", Service: "nope"}, `no enforced service "nope"`},
		{Query{IP: "192.0.2.1", Port: "99999"}, "want a port number"},
		{Query{IP: "192.0.2.1", Port: "993", Proto: "sctp"}, "want tcp or udp"},
		{Query{IP: "192.0.2.1", Service: "imap", Port: "993"}, "not both"},
		{Query{IP: "192.0.2.1"}, "say what to check"},
	} {
		_, err := Check(p, m, tc.q)
		var qe *QueryError
		if !errors.As(err, &qe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v): %v, want a *QueryError containing %q", tc.q, err, tc.want)
		}
	}
}

// TestCheckAdmitAll: a service with admit: all is explained as such, and
// the deny list still wins.
func TestCheckAdmitAll(t *testing.T) {
	r, err := compose.Compose(compose.Input{
		Deny:     []netip.Prefix{pfx("192.0.2.66/32")},
		Services: []compose.Service{{Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, AdmitAll: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ip, verdict, rule string }{
		{"203.0.113.9", "pass", "imap admits every source not in the deny list (admit: all), and 203.0.113.9 is in no deny list entry"},
		{"2001:db8::9", "pass", "imap admits every source not in the deny list (admit: all)"},
		{"192.0.2.66", "drop", "deny list entry 192.0.2.66/32"},
	} {
		res, err := Check(r.Policy, r.Model, Query{IP: tc.ip, Service: "imap"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.verdict || !strings.Contains(res.Rule, tc.rule) {
			t.Errorf("Check(%s) = %s %q, want %s %q", tc.ip, res.Verdict, res.Rule, tc.verdict, tc.rule)
		}
	}
	if _, err := compose.Compose(compose.Input{Services: []compose.Service{{Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, AdmitAll: true, Geofenced: true, Countries: []string{"DE"}}}}); err == nil {
		t.Error("Compose: admit all with countries accepted")
	}
}
