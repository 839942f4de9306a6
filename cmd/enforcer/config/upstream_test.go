package config

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

// fakeLookup resolves from a table; other names fail.
func fakeLookup(table map[string][]string) LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		as, ok := table[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, a := range as {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func upstreamYAML(proxy string) string {
	return "interfaces: [eth0]\nservices:\n  - name: activesync\n    countries: [DE]\nproxy:\n  plain_http: true\n" + proxy
}

func pfxs(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestDeriveUpstream(t *testing.T) {
	lookup := fakeLookup(map[string][]string{
		"mail.internal": {"2001:db8::10", "192.0.2.10", "::ffff:192.0.2.10", "127.0.0.1"},
		"localhost":     {"127.0.0.1", "::1"},
	})
	tests := []struct {
		name  string
		proxy string
		want  *Service // nil: no derived service
	}{
		{"IPv4 literal with port", "  upstream: http://192.0.2.10:8080\n  upstream_allow: [{cidr: 203.0.113.0/24, comment: relay}]\n",
			&Service{Ports: []uint16{8080}, Destinations: pfxs("192.0.2.10/32"), Allow: []Entry{{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Comment: "relay"}}}},
		{"IPv6 literal, https default port", "  upstream: https://[2001:db8::10]/exchange\n",
			&Service{Ports: []uint16{443}, Destinations: pfxs("2001:db8::10/128")}},
		{"http default port", "  upstream: http://192.0.2.10\n", &Service{Ports: []uint16{80}, Destinations: pfxs("192.0.2.10/32")}},
		{"host name: every address but loopback, mapped ones unmapped", "  upstream: https://mail.internal:8443\n",
			&Service{Ports: []uint16{8443}, Destinations: pfxs("192.0.2.10/32", "2001:db8::10/128")}},
		{"loopback literal: nothing to protect", "  upstream: http://127.0.0.1:8081\n", nil},
		{"loopback name: nothing to protect", "  upstream: http://localhost:8081\n", nil},
		{"opted out", "  upstream: http://192.0.2.10:8080\n  protect_upstream: false\n", nil},
		{"proxy disabled", "  upstream: http://192.0.2.10:8080\n  enabled: false\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, upstreamYAML(tc.proxy))
			for range 2 { // a second derivation (a reload) replaces the first
				if err := c.DeriveUpstream(t.Context(), lookup); err != nil {
					t.Fatalf("DeriveUpstream: %v", err)
				}
			}
			got := c.Service(ServiceUpstream)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("derived %+v, want none", got)
				}
				if len(c.Services) != 1 {
					t.Fatalf("services %+v, want the file's one", c.Services)
				}
				return
			}
			want := *tc.want
			want.Name, want.Protocols, want.Enabled, want.Derived = ServiceUpstream, []policy.Proto{policy.TCP}, true, "proxy.upstream"
			if got == nil {
				t.Fatalf("no %q service among %+v", ServiceUpstream, c.Services)
			}
			if diff := cmp.Diff(want, *got, cmpOpts); diff != "" {
				t.Errorf("derived service (-want +got):\n%s", diff)
			}
			p := mustPolicy(t, c)
			var ps *policy.Service
			for i := range p.Services {
				if p.Services[i].Name == ServiceUpstream {
					ps = &p.Services[i]
				}
			}
			if ps == nil || ps.Geofenced || len(ps.Countries) != 0 {
				t.Fatalf("policy service %+v: want an allowlist-only upstream service", ps)
			}
			// The derived service is not the file's: Marshal leaves it out
			// and what it writes parses back.
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("marshalled.yaml", b)
			if err != nil {
				t.Fatalf("Marshal output does not parse: %v\n%s", err, b)
			}
			if back.Service(ServiceUpstream) != nil || !back.Proxy.ProtectUpstream {
				t.Errorf("marshalled: services %+v, protect_upstream %v", back.Services, back.Proxy.ProtectUpstream)
			}
		})
	}
}

func TestDeriveUpstreamErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"name does not resolve", upstreamYAML("  upstream: https://nowhere.internal\n"),
			`proxy.upstream host "nowhere.internal" does not resolve, so proxy.protect_upstream cannot protect it: no such host; fix the name or DNS, write the address in the URL, or set proxy.protect_upstream: false`},
		{"a file service owns the upstream's address and port", "interfaces: [eth0]\nservices:\n  - {name: exchange, ports: [443], destinations: [192.0.2.10/32], allow: [10.0.0.0/8]}\nproxy: {upstream: https://192.0.2.10, plain_http: true}\n",
			`service "exchange" already claims tcp port 443 to 192.0.2.10/32, the address of proxy.upstream`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.yaml)
			err := c.DeriveUpstream(t.Context(), fakeLookup(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DeriveUpstream: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUpstreamFieldErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"service named upstream", "interfaces: [eth0]\nservices:\n  - {name: upstream, ports: [8080]}\nproxy: {upstream: http://192.0.2.10:8080, plain_http: true}\n",
			`enforcer.yaml:3:12: services[0].name: "upstream" is the name of the service proxy.protect_upstream derives from proxy.upstream; rename this service, or set proxy.protect_upstream: false`},
		{"upstream_allow without protection", "interfaces: [eth0]\nproxy: {upstream: http://192.0.2.10:8080, plain_http: true, protect_upstream: false, upstream_allow: [10.0.0.0/8]}\n",
			`proxy.upstream_allow: set but protect_upstream is false, so nothing uses it`},
		{"upstream_allow bad CIDR", "interfaces: [eth0]\nproxy: {upstream: http://192.0.2.10:8080, plain_http: true, upstream_allow: [10.0.0.1/8]}\n",
			`proxy.upstream_allow[0]`},
		{"protect_upstream not a bool", "interfaces: [eth0]\nproxy: {upstream: http://192.0.2.10:8080, plain_http: true, protect_upstream: sometimes}\n",
			`proxy.protect_upstream`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("enforcer.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUpstreamWarnings(t *testing.T) {
	lookup := fakeLookup(map[string][]string{"mail.internal": {"192.0.2.10"}})
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one per warning, in order
	}{
		{"README configuration: protected", upstreamYAML("  upstream: https://mail.internal\n"), nil},
		{"protection off: the geofenced activesync reaches the upstream", upstreamYAML("  upstream: https://mail.internal\n  protect_upstream: false\n"),
			[]string{`service "activesync" admits whole countries (DE) to tcp 192.0.2.10:443 on the mail server of proxy.upstream`}},
		{"protection off, upstream port unprotected", upstreamYAML("  upstream: http://192.0.2.10:8080\n  protect_upstream: false\n"),
			[]string{"tcp 192.0.2.10:8080 is proxy.upstream, and no service protects it"}},
		{"protected port, but the https port of the upstream is geofenced", upstreamYAML("  upstream: https://192.0.2.10:8443\n"),
			[]string{`service "activesync" admits whole countries (DE) to tcp 192.0.2.10:443`}},
		{"allowlist-only service on the upstream port", "interfaces: [eth0]\nservices:\n  - {name: exchange, ports: [443], allow: [10.0.0.0/8]}\nproxy: {upstream: https://192.0.2.10, plain_http: true, protect_upstream: false}\n", nil},
		{"loopback upstream", upstreamYAML("  upstream: http://127.0.0.1:8080\n  protect_upstream: false\n"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.yaml)
			if err := c.DeriveUpstream(t.Context(), lookup); err != nil {
				t.Fatal(err)
			}
			got := c.UpstreamWarnings(t.Context(), lookup)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d: %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}
