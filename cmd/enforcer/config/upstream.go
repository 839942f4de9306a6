package config

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mailgate/enforcer/policy"
)

// ServiceUpstream is the name of the service DeriveUpstream adds when the
// proxy is on: the mail server's own address and port, admitting only
// proxy.upstream_allow, so that clients cannot go around the proxy (and
// its device checks) straight to the mail server.
const ServiceUpstream = "upstream"

// derivedFrom is Service.Derived of the upstream service.
const derivedFrom = "proxy.upstream"

// LookupFunc resolves a host name to its addresses, as
// (*net.Resolver).LookupNetIP(ctx, "ip", host) does.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// UpstreamEndpoint returns the host and the TCP port of proxy.upstream:
// the URL's port, else 443 for https and 80 for http.
func (c *Config) UpstreamEndpoint() (host string, port uint16, err error) {
	u, err := url.Parse(c.Proxy.Upstream)
	if err != nil || u.Hostname() == "" {
		return "", 0, fmt.Errorf("proxy.upstream %q: not a URL with a host", c.Proxy.Upstream)
	}
	port = 443
	if u.Scheme == "http" {
		port = 80
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("proxy.upstream %q: bad port %q", c.Proxy.Upstream, ps)
		}
		port = uint16(n)
	}
	return u.Hostname(), port, nil
}

// DeriveUpstream adds the ServiceUpstream service when the proxy is
// enabled with protect_upstream (the default): tcp to proxy.upstream's
// port, destinations its addresses (each a /32 or /128; a host name is
// resolved with lookup), allowlist proxy.upstream_allow, never geofenced.
// The gateway's own connections to the mail server leave through the
// gateway and never meet its XDP program, so they need no entry. Loopback
// addresses are left out: nothing reaches them through the gateway; an
// upstream with nothing else derives no service. A service derived by an
// earlier call is replaced, so a reload re-resolves the name.
//
// It fails when the name does not resolve (the caller keeps what is in
// force), and when a service of the file already claims tcp to one of the
// addresses and the port with the same host prefix: two services cannot
// own one destination.
func (c *Config) DeriveUpstream(ctx context.Context, lookup LookupFunc) error {
	c.Services = slices.DeleteFunc(c.Services, func(s Service) bool { return s.Derived == derivedFrom })
	if !c.Proxy.Enabled || !c.Proxy.ProtectUpstream {
		return nil
	}
	host, port, err := c.UpstreamEndpoint()
	if err != nil {
		return err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if lookup == nil {
			return fmt.Errorf("proxy.upstream host %q: no resolver to find its addresses", host)
		}
		if addrs, err = lookup(ctx, host); err != nil {
			return fmt.Errorf("proxy.upstream host %q does not resolve, so proxy.protect_upstream cannot protect it: %w; fix the name or DNS, write the address in the URL, or set proxy.protect_upstream: false", host, err)
		}
	}
	var dests []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		p := netip.PrefixFrom(a, a.BitLen())
		if !slices.Contains(dests, p) {
			dests = append(dests, p)
		}
	}
	if len(dests) == 0 {
		return nil
	}
	slices.SortFunc(dests, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, s := range c.Services {
		if !s.Enabled || !slices.Contains(s.Protocols, policy.TCP) || !slices.Contains(s.Ports, port) {
			continue
		}
		for _, d := range s.Destinations {
			if slices.Contains(dests, policy.Normalize(d)) {
				return fmt.Errorf("service %q already claims tcp port %d to %v, the address of proxy.upstream, which proxy.protect_upstream protects; remove that destination from %q (use proxy.upstream_allow for its allowlist), or set proxy.protect_upstream: false",
					s.Name, port, d, s.Name)
			}
		}
	}
	c.Services = append(c.Services, Service{
		Name:         ServiceUpstream,
		Protocols:    []policy.Proto{policy.TCP},
		Ports:        []uint16{port},
		Destinations: dests,
		Allow:        slices.Clone(c.Proxy.UpstreamAllow),
		Enabled:      true,
		Derived:      derivedFrom,
	})
	return nil
}

// UpstreamWarnings lists the ways clients can still reach the mail server
// around the proxy under c (after DeriveUpstream): for each address of
// the upstream, its port (and the web port of its scheme, 443 or 80, where
// EAS and EWS are usually served too) when that is left unprotected or is
// judged by a geofenced service, which admits whole countries. Nil when
// the proxy is off or the upstream is loopback.
func (c *Config) UpstreamWarnings(ctx context.Context, lookup LookupFunc) []string {
	if !c.Proxy.Enabled {
		return nil
	}
	host, port, err := c.UpstreamEndpoint()
	if err != nil {
		return nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if lookup != nil {
		if addrs, err = lookup(ctx, host); err != nil {
			return []string{fmt.Sprintf("proxy.upstream host %q does not resolve (%v): cannot tell whether clients reach it directly", host, err)}
		}
	}
	ports := []uint16{port}
	if web := map[string]uint16{"https": 443, "http": 80}[strings.SplitN(c.Proxy.Upstream, ":", 2)[0]]; web != port {
		ports = append(ports, web)
	}
	var out []string
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		for _, p := range ports {
			s := c.serviceFor(policy.TCP, p, a)
			switch {
			case s == nil && p == port:
				out = append(out, fmt.Sprintf("tcp %s is proxy.upstream, and no service protects it: clients reach the mail server directly, skipping every device check; set proxy.protect_upstream: true (the default)",
					netip.AddrPortFrom(a, p)))
			case s != nil && s.Geofence:
				out = append(out, fmt.Sprintf("service %q admits whole countries (%s) to tcp %s on the mail server of proxy.upstream: clients there skip the proxy's device checks; give %q destinations that leave out %v, or make it allowlist only",
					s.Name, strings.Join(s.Countries, ", "), netip.AddrPortFrom(a, p), s.Name, a))
			}
		}
	}
	return out
}

// serviceFor is the enabled protected service that judges proto to
// dst:port, as the datapath picks it: the longest destination prefix that
// holds dst, else the service without destinations; nil for none.
func (c *Config) serviceFor(proto policy.Proto, port uint16, dst netip.Addr) *Service {
	var best *Service
	bits := -1
	for i := range c.Services {
		s := &c.Services[i]
		if !s.Enabled || !s.Protected() || !slices.Contains(s.Protocols, proto) || !slices.Contains(s.Ports, port) {
			continue
		}
		if len(s.Destinations) == 0 {
			if bits < 0 {
				best, bits = s, 0
			}
			continue
		}
		for _, d := range s.Destinations {
			if d = policy.Normalize(d); d.Contains(dst) && d.Bits() >= bits {
				best, bits = s, d.Bits()
			}
		}
	}
	return best
}
