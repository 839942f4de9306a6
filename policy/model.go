package policy

import (
	"fmt"
	"net/netip"
	"slices"
)

// Model answers verdicts for a Policy the way the datapath does.
type Model struct {
	byID       map[uint8]*Service
	services   map[portKey][]*Service // services on one protocol and port
	deny       []netip.Prefix
	allow      map[uint8][]netip.Prefix
	countries  map[netip.Prefix]string
	countrySet map[uint8]map[string]bool
}

type portKey struct {
	proto Proto
	port  uint16
}

// NewModel validates p and prepares it for judging.
func NewModel(p *Policy) (*Model, error) {
	m := &Model{
		byID:       map[uint8]*Service{},
		services:   map[portKey][]*Service{},
		allow:      map[uint8][]netip.Prefix{},
		countries:  map[netip.Prefix]string{},
		countrySet: map[uint8]map[string]bool{},
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	for i := range p.Services {
		s := &p.Services[i]
		m.byID[s.ID] = s
		for _, proto := range s.Protocols {
			for _, port := range s.Ports {
				k := portKey{proto, port}
				m.services[k] = append(m.services[k], s)
			}
		}
		for _, a := range s.Allow {
			m.allow[s.ID] = append(m.allow[s.ID], Normalize(a))
		}
		set := map[string]bool{}
		for _, c := range s.Countries {
			set[c] = true
		}
		m.countrySet[s.ID] = set
	}
	for _, d := range p.Deny {
		m.deny = append(m.deny, Normalize(d))
	}
	for _, n := range p.Networks {
		m.countries[Normalize(n.Prefix)] = n.Country
	}
	return m, nil
}

// Normalize masks p and turns an IPv4-mapped IPv6 prefix into the IPv4
// prefix it names, as the datapath stores it.
func Normalize(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// Validate checks what the datapath relies on: service ids unique and in
// range, protocols TCP or UDP, no two services claiming the same protocol,
// port and destination, valid prefixes and country codes.
func Validate(p *Policy) error {
	ids := map[uint8]string{}
	type claim struct {
		proto Proto
		port  uint16
		dst   netip.Prefix
	}
	claims := map[claim]string{}
	for _, s := range p.Services {
		if s.ID == 0 || s.ID > MaxServiceID {
			return fmt.Errorf("service %q: id %d out of range 1..%d", s.Name, s.ID, MaxServiceID)
		}
		if other, dup := ids[s.ID]; dup {
			return fmt.Errorf("service %q: id %d already used by service %q", s.Name, s.ID, other)
		}
		ids[s.ID] = s.Name
		dsts := s.Destinations
		if len(dsts) == 0 {
			dsts = []netip.Prefix{{}}
		}
		for _, proto := range s.Protocols {
			if proto != TCP && proto != UDP {
				return fmt.Errorf("service %q: protocol %v: only tcp and udp can be protected", s.Name, proto)
			}
			for _, port := range s.Ports {
				for _, d := range dsts {
					if d.IsValid() {
						d = Normalize(d)
					}
					c := claim{proto, port, d}
					if other, dup := claims[c]; dup {
						return fmt.Errorf("service %q: %v port %d%s already belongs to service %q", s.Name, proto, port, dstSuffix(d), other)
					}
					claims[c] = s.Name
				}
			}
		}
		for _, lists := range [][]netip.Prefix{s.Destinations, s.Allow} {
			for _, a := range lists {
				if !a.IsValid() {
					return fmt.Errorf("service %q: invalid prefix %v", s.Name, a)
				}
			}
		}
		for _, c := range s.Countries {
			if !validCountry(c) {
				return fmt.Errorf("service %q: country code %q is not two upper-case letters (ISO 3166-1 alpha-2, e.g. DE)", s.Name, c)
			}
		}
	}
	for _, d := range p.Deny {
		if !d.IsValid() {
			return fmt.Errorf("deny list: invalid prefix %v", d)
		}
	}
	for _, n := range p.Networks {
		if !n.Prefix.IsValid() {
			return fmt.Errorf("country table: invalid prefix %v", n.Prefix)
		}
		if n.Country != "" && !validCountry(n.Country) {
			return fmt.Errorf("country table: network %v: country code %q is not ISO 3166-1 alpha-2", n.Prefix, n.Country)
		}
	}
	return nil
}

func dstSuffix(d netip.Prefix) string {
	if !d.IsValid() {
		return ""
	}
	return " to " + d.String()
}

func validCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// Judge returns the verdict for one Ethernet frame.
func (m *Model) Judge(frame []byte) Verdict {
	r, f := parseFrame(frame)
	switch r {
	case parsePass:
		return Verdict{Action: Pass, Reason: ReasonUntouched}
	case parseLater:
		return Verdict{Action: Pass, Reason: ReasonFragment}
	case parseTiny:
		return Verdict{Action: Drop, Reason: ReasonFragment}
	case parseMalformed:
		return Verdict{Action: Drop, Reason: ReasonMalformed}
	}
	return m.judge(f)
}

// JudgeFlow returns the verdict for a well-formed, unfragmented packet.
func (m *Model) JudgeFlow(src, dst netip.Addr, proto Proto, port uint16) Verdict {
	return m.judge(Flow{Src: src, Dst: dst, Proto: proto, DstPort: port, l4ok: true})
}

func (m *Model) judge(f Flow) Verdict {
	s := m.ServiceFor(f.Proto, f.DstPort, f.Dst)
	if s == nil {
		return Verdict{Action: Pass, Reason: ReasonUntouched}
	}
	v := Verdict{Service: s.ID}
	if !f.l4ok {
		v.Action, v.Reason = Drop, ReasonMalformed
		return v
	}
	src := f.Src.Unmap()
	v.Country = m.Country(src)
	switch {
	case containsAny(m.deny, src):
		v.Action, v.Reason = Drop, ReasonDeny
	case containsAny(m.allow[s.ID], src):
		v.Action, v.Reason = Pass, ReasonAllowlist
	case !s.Geofenced:
		v.Action, v.Reason = Drop, ReasonNotInSet
	case v.Country == "":
		v.Action, v.Reason = Drop, ReasonNoCountry
	case m.countrySet[s.ID][v.Country]:
		v.Action, v.Reason = Pass, ReasonCountry
	default:
		v.Action, v.Reason = Drop, ReasonNotInSet
	}
	return v
}

// ServiceFor returns the service protecting proto/port at dst, or nil: the
// one with the longest destination prefix containing dst, else the one with
// no destination limit.
func (m *Model) ServiceFor(proto Proto, port uint16, dst netip.Addr) *Service {
	dst = dst.Unmap()
	var best *Service
	bestBits := -1
	for _, s := range m.services[portKey{proto, port}] {
		if len(s.Destinations) == 0 {
			if best == nil {
				best = s
			}
			continue
		}
		for _, d := range s.Destinations {
			d = Normalize(d)
			if d.Contains(dst) && d.Bits() > bestBits {
				best, bestBits = s, d.Bits()
			}
		}
	}
	return best
}

// Country returns the country of a by longest prefix match.
func (m *Model) Country(a netip.Addr) string {
	a = a.Unmap()
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if c, ok := m.countries[p]; ok {
			return c
		}
	}
	return ""
}

func containsAny(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}
