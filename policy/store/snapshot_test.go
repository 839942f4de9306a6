package store

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

func TestSnapshotEmpty(t *testing.T) {
	got := mustSnapshot(t, mustOpen(t, t.TempDir()))
	want := State{Allow: map[string][]Entry{}, Countries: map[string]CountryOverride{}, ServiceIDs: map[string]uint8{}}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("empty snapshot (-want +got):\n%s", diff)
	}
}

func TestApply(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	config := policy.Policy{
		Services: []policy.Service{
			{ID: 1, Name: "imap", Allow: []netip.Prefix{p("192.0.2.0/24")}, Countries: []string{"DE", "US"}, Geofenced: true},
			{ID: 2, Name: "admin", Allow: []netip.Prefix{p("::ffff:198.51.100.0/120")}},
			{ID: 3, Name: "smtp"},
		},
		Deny: []netip.Prefix{p("203.0.113.0/24")},
	}
	st := State{
		Allow: map[string][]Entry{
			"imap":  {{Prefix: p("192.0.2.0/24")}, {Prefix: p("2001:db8::/32")}},
			"admin": {{Prefix: p("198.51.100.0/24")}, {Prefix: p("198.51.100.7/32")}},
			"gone":  {{Prefix: p("10.0.0.0/8")}},
		},
		Deny: []Entry{{Prefix: p("203.0.113.0/24")}, {Prefix: p("100.64.0.0/10")}},
		Countries: map[string]CountryOverride{
			"imap":    {Added: []string{"AT"}, Removed: []string{"US"}},
			"renamed": {Added: []string{"FR"}},
		},
	}
	want := policy.Policy{
		Services: []policy.Service{
			{ID: 1, Name: "imap", Allow: []netip.Prefix{p("192.0.2.0/24"), p("2001:db8::/32")}, Countries: []string{"AT", "DE"}, Geofenced: true},
			// The config's IPv4-mapped spelling counts as the same prefix.
			{ID: 2, Name: "admin", Allow: []netip.Prefix{p("::ffff:198.51.100.0/120"), p("198.51.100.7/32")}},
			{ID: 3, Name: "smtp"},
		},
		Deny: []netip.Prefix{p("203.0.113.0/24"), p("100.64.0.0/10")},
	}
	got := st.Apply(config)
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
	if config.Services[0].Countries[1] != "US" || len(config.Services[0].Allow) != 1 || len(config.Deny) != 1 {
		t.Errorf("Apply modified its argument: %+v", config)
	}
	if diff := cmp.Diff([]string{"gone", "renamed"}, st.Orphans(config)); diff != "" {
		t.Errorf("Orphans (-want +got):\n%s", diff)
	}
}
