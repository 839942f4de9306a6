package config

import (
	"net/netip"
	"slices"

	"github.com/mailgate/enforcer/policy/compose"
)

// PolicyInput is what the datapath's policy is made from in c: the deny
// list and every protected service (enabled or not, so that a disabled
// service keeps its datapath id and counters; smtp is never filtered and
// is left out), in file order, with the derived services. The caller adds
// the state store's snapshot and the GeoIP country table and calls
// compose.Compose, which assigns the service ids. The result shares no
// slices with c.
func (c *Config) PolicyInput() compose.Input {
	in := compose.Input{Deny: prefixes(c.Deny)}
	for _, s := range c.Services {
		if !s.Protected() {
			continue
		}
		in.Services = append(in.Services, compose.Service{
			Name:         s.Name,
			Protocols:    slices.Clone(s.Protocols),
			Ports:        slices.Clone(s.Ports),
			Destinations: slices.Clone(s.Destinations),
			Allow:        prefixes(s.Allow),
			Countries:    slices.Clone(s.Countries),
			Geofenced:    s.Geofence,
			AdmitAll:     s.AdmitAll,
			Disabled:     !s.Enabled,
		})
	}
	return in
}

// prefixes of a list of entries.
func prefixes(es []Entry) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range es {
		out = append(out, e.Prefix)
	}
	return out
}
