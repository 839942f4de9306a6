package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAddressRanges: a range in deny, services[].allow and
// proxy.upstream_allow is its minimal CIDR cover, each prefix with the
// entry's comment.
func TestAddressRanges(t *testing.T) {
	c := mustParse(t, `interfaces: [eth0]
deny: ["198.51.100.1-198.51.100.2"]
proxy: {upstream: "http://192.0.2.10:8080", plain_http: true, upstream_allow: ["2001:db8::-2001:db8::1:0"]}
services:
  - name: imap
    allow: [{cidr: 192.0.2.0-192.0.2.130, comment: office}, 203.0.113.9]
`)
	wantAllow := []Entry{{Prefix: pfx("192.0.2.0/25"), Comment: "office"}, {Prefix: pfx("192.0.2.128/31"), Comment: "office"},
		{Prefix: pfx("192.0.2.130/32"), Comment: "office"}, {Prefix: pfx("203.0.113.9/32")}}
	if diff := cmp.Diff(wantAllow, c.Service("imap").Allow, cmpOpts); diff != "" {
		t.Errorf("imap allow (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Entry{{Prefix: pfx("198.51.100.1/32")}, {Prefix: pfx("198.51.100.2/32")}}, c.Deny, cmpOpts); diff != "" {
		t.Errorf("deny (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Entry{{Prefix: pfx("2001:db8::/112")}, {Prefix: pfx("2001:db8::1:0/128")}}, c.Proxy.UpstreamAllow, cmpOpts); diff != "" {
		t.Errorf("upstream_allow (-want +got):\n%s", diff)
	}
}

func TestAddressRangeProblems(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`deny: ["192.0.2.9-192.0.2.1"]`, "enforcer.yaml:2:8: deny[0]: range 192.0.2.9-192.0.2.1 is reversed"},
		{`deny: ["192.0.2.1-2001:db8::1"]`, "enforcer.yaml:2:8: deny[0]: range 192.0.2.1-2001:db8::1 mixes IPv4 and IPv6"},
		{`deny: ["10.0.0.1-10.255.255.254"]`, "enforcer.yaml:2:8: deny[0]: range 10.0.0.1-10.255.255.254 needs more than 32 CIDR prefixes"},
		{`deny: ["192.0.2.0/25", "192.0.2.0-192.0.2.130"]`, "enforcer.yaml:2:24: deny[1]: 192.0.2.0/25 is listed twice (first at line 2)"},
	} {
		_, err := Parse("enforcer.yaml", []byte("interfaces: [eth0]\n"+tc.in+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}
