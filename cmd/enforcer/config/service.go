package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mailgate/enforcer/policy"
)

// svcSrc is a service as parsed, with the nodes that later checks point
// at.
type svcSrc struct {
	s             Service
	field         string     // services[i]
	node          *yaml.Node // the service's mapping
	nameNode      *yaml.Node
	portNodes     []*yaml.Node // parallel to s.Ports when the file sets them
	countriesNode *yaml.Node
	geofenceNode  *yaml.Node
	allowNode     *yaml.Node
	admitNode     *yaml.Node
}

var serviceName = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

func (p *parser) services(n *yaml.Node, field string) []*svcSrc {
	items, _ := p.list(n, field, "[{name: imap, countries: [DE]}]")
	var out []*svcSrc
	for i, item := range items {
		if src := p.service(item, index(field, i)); src != nil {
			out = append(out, src)
		}
	}
	return out
}

func defaultNames() string {
	var names []string
	for _, s := range DefaultServices() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// service reads one service and merges it with the default of its name;
// nil when it has no usable name.
func (p *parser) service(n *yaml.Node, field string) *svcSrc {
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		p.addf(d, field, "want a mapping such as {name: imap, countries: [DE]}, got %s", describe(d))
		return nil
	}
	src := &svcSrc{field: field, node: d}
	var (
		name                                    string
		nameOK                                  bool
		protos                                  []policy.Proto
		ports                                   []uint16
		dests                                   []netip.Prefix
		allow                                   []Entry
		countries                               []string
		geofence, enabled, geofenceOK, enableOK bool
		admit                                   string
		admitOK                                 bool
	)
	keys, _ := p.mapping(d, field, []fieldSpec{
		{"name", func(v *yaml.Node, f string) {
			src.nameNode = deref(v)
			if name, nameOK = p.str(v, f); nameOK && !serviceName.MatchString(name) {
				p.addf(src.nameNode, f, "%s is not a service name: use 1 to 32 lower-case letters, digits and '-', e.g. imap-internal", quote(name))
				nameOK = false
			}
		}},
		{"protocols", func(v *yaml.Node, f string) { protos = p.protocols(v, f) }},
		{"ports", func(v *yaml.Node, f string) { ports, src.portNodes = p.ports(v, f) }},
		{"destinations", func(v *yaml.Node, f string) { dests = p.destinations(v, f) }},
		{"allow", func(v *yaml.Node, f string) { allow, _ = p.entries(v, f); src.allowNode = deref(v) }},
		{"countries", func(v *yaml.Node, f string) { countries = p.countries(v, f); src.countriesNode = deref(v) }},
		{"geofence", func(v *yaml.Node, f string) { geofence, geofenceOK = p.boolean(v, f); src.geofenceNode = deref(v) }},
		{"enabled", func(v *yaml.Node, f string) { enabled, enableOK = p.boolean(v, f) }},
		{"admit", func(v *yaml.Node, f string) {
			admit, admitOK = p.enum(v, f, "who the service admits", "listed", "all")
			src.admitNode = deref(v)
		}},
	})
	if keys["name"] == nil {
		p.addf(d, join(field, "name"), "required: every service needs a name, one of the defaults (%s) or your own", defaultNames())
		return nil
	}
	if !nameOK {
		return nil
	}
	s, isDefault := defaultService(name)
	if !isDefault {
		s = Service{Name: name, Protocols: []policy.Proto{policy.TCP}, Enabled: true}
	}
	if keys["protocols"] != nil {
		s.Protocols = protos
	}
	if keys["ports"] != nil {
		s.Ports = ports
	} else if !isDefault {
		p.addf(d, join(field, "ports"), "required for a service that is not one of the defaults (%s); e.g. ports: [4190]", defaultNames())
	}
	if keys["destinations"] != nil {
		s.Destinations = dests
	}
	if keys["allow"] != nil {
		s.Allow = allow
	}
	if keys["countries"] != nil {
		s.Countries = countries
	}
	if keys["enabled"] != nil && enableOK {
		s.Enabled = enabled
	}
	s.Geofence = len(s.Countries) > 0
	if keys["geofence"] != nil && geofenceOK {
		s.Geofence = geofence
	}
	if keys["admit"] != nil && admitOK {
		s.AdmitAll = admit == "all"
	}
	src.s = s
	p.serviceRules(src)
	return src
}

// serviceRules checks what the kind of service forbids: countries on the
// admin page and on SMTP, allowlists on SMTP.
func (p *parser) serviceRules(src *svcSrc) {
	s := &src.s
	// at is where to point: the countries when there are some, else an
	// explicit geofence: true.
	at, atField := src.countriesNode, join(src.field, "countries")
	if len(s.Countries) == 0 {
		at, atField = src.geofenceNode, join(src.field, "geofence")
	}
	if s.AdmitAll {
		af := join(src.field, "admit")
		switch {
		case s.Name == ServiceAdmin:
			p.addf(src.admitNode, af, "the admin page admits explicit addresses only, never everyone; remove admit: all and list them under allow")
		case s.Name == ServiceSMTP:
			p.addf(src.admitNode, af, "smtp is never filtered: it already admits everyone, and its deny list entries do not apply; remove admit")
		case len(s.Countries) > 0 || s.Geofence:
			p.addf(src.admitNode, af, "admit: all admits every source not in the deny list, so %s would have no effect; remove it, or use admit: listed (the default) to admit only the allowlist and countries",
				strings.TrimPrefix(atField, src.field+"."))
		}
	}
	switch {
	case s.Name == ServiceAdmin:
		if len(s.Countries) > 0 || s.Geofence {
			p.addf(at, atField, "the admin page admits explicit addresses only, never whole countries; list them under allow and remove %s", strings.TrimPrefix(atField, src.field+"."))
		}
	case s.Name == ServiceSMTP:
		if len(s.Countries) > 0 || s.Geofence {
			p.addf(at, atField, "smtp is never geofenced: it must accept mail from any host; remove it (restrict submission per account on the mail server)")
		}
		if len(s.Allow) > 0 {
			p.addf(src.allowNode, join(src.field, "allow"), "smtp is never filtered, so an allowlist would have no effect; remove it")
		}
	case len(s.Countries) > 0 || s.Geofence:
		if port, ok := smtpPort(s); ok {
			p.addf(at, atField, "tcp port %d is SMTP, which must accept mail from any host and is never geofenced; remove %s, or move the service off tcp 25, 465 and 587",
				port, strings.TrimPrefix(atField, src.field+"."))
		}
	}
}

func smtpPort(s *Service) (uint16, bool) {
	if !slices.Contains(s.Protocols, policy.TCP) {
		return 0, false
	}
	for _, port := range s.Ports {
		if slices.Contains(smtpPorts, port) {
			return port, true
		}
	}
	return 0, false
}

func (p *parser) protocols(n *yaml.Node, field string) []policy.Proto {
	items, ok := p.list(n, field, "[tcp] or [tcp, udp]")
	if ok && len(items) == 0 {
		p.addf(deref(n), field, "empty; give tcp, udp or both, or remove the field for the default [tcp]")
	}
	var out []policy.Proto
	s := seen[policy.Proto]{}
	for i, item := range items {
		f := index(field, i)
		name, ok := p.enum(item, f, "a protocol enforcer can protect", "tcp", "udp")
		if !ok {
			continue
		}
		proto := policy.TCP
		if name == "udp" {
			proto = policy.UDP
		}
		if !s.dup(p, proto, item, f, name) {
			out = append(out, proto)
		}
	}
	return out
}

// ports reads a list of ports in decimal. YAML 1.1 would read 0143 as
// octal 99 and 1_43 as 143; a port written like that is a mistake either
// way, so only plain decimal is taken.
func (p *parser) ports(n *yaml.Node, field string) ([]uint16, []*yaml.Node) {
	items, ok := p.list(n, field, "[143, 993]")
	if ok && len(items) == 0 {
		p.addf(deref(n), field, "empty; list at least one port, or disable the service with enabled: false")
	}
	var out []uint16
	var nodes []*yaml.Node
	s := seen[uint16]{}
	for i, item := range items {
		f := index(field, i)
		d := deref(item)
		v, msg := portValue(d)
		if msg != "" {
			p.addf(d, f, "%s", msg)
			continue
		}
		if !s.dup(p, v, d, f, "port "+strconv.Itoa(int(v))) {
			out, nodes = append(out, v), append(nodes, d)
		}
	}
	return out, nodes
}

func portValue(n *yaml.Node) (uint16, string) {
	const want = "want a port number 1..65535"
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return 0, fmt.Sprintf("%s, got %s", want, describe(n))
	}
	switch tag := n.ShortTag(); {
	case tag == "!!str":
		if _, err := strconv.ParseUint(n.Value, 10, 16); err == nil {
			return 0, fmt.Sprintf("%s, got the string %s; write it without quotes", want, quote(n.Value))
		}
		if lo, hi, ok := strings.Cut(n.Value, "-"); ok && lo != "" && hi != "" {
			return 0, fmt.Sprintf("%s: port ranges are not supported; list the ports one by one", quote(n.Value))
		}
		return 0, fmt.Sprintf("%s, got %s", want, describe(n))
	case tag != "!!int":
		return 0, fmt.Sprintf("%s, got %s", want, describe(n))
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	switch {
	case err != nil && strings.HasPrefix(n.Value, "-"):
		return 0, fmt.Sprintf("port %s is out of range 1..65535", shorten(n.Value))
	case err != nil || len(n.Value) > 1 && n.Value[0] == '0':
		return 0, fmt.Sprintf("%s: write the port in plain decimal, e.g. 993", quote(n.Value))
	case v < 1 || v > 65535:
		return 0, fmt.Sprintf("port %s is out of range 1..65535", shorten(n.Value))
	}
	return uint16(v), ""
}

func (p *parser) destinations(n *yaml.Node, field string) []netip.Prefix {
	items, _ := p.list(n, field, "[192.0.2.10/32, 2001:db8::10/128]")
	var out []netip.Prefix
	s := seen[netip.Prefix]{}
	for i, item := range items {
		f := index(field, i)
		if d := deref(item); d.Kind == yaml.MappingNode {
			p.addf(d, f, "want a CIDR prefix string %s, got a mapping; destinations take no comments (use a # comment)", prefixExample)
			continue
		}
		pfx, ok := p.prefix(item, f)
		if ok && !s.dup(p, policy.Normalize(pfx), item, f, pfx.String()) {
			out = append(out, pfx)
		}
	}
	return out
}

func (p *parser) countries(n *yaml.Node, field string) []string {
	items, _ := p.list(n, field, "[DE, AT, CH]")
	var out []string
	s := seen[string]{}
	for i, item := range items {
		f := index(field, i)
		c, ok := p.text(item, f, "an ISO 3166-1 alpha-2 country code such as DE")
		if !ok {
			continue
		}
		if msg := countryProblem(c); msg != "" {
			p.addf(deref(item), f, "%s", msg)
			continue
		}
		if !s.dup(p, c, item, f, c) {
			out = append(out, c)
		}
	}
	return out
}

// crossCheck checks the services against each other (unique names, no two
// claiming one protocol, port and destination, the datapath's limits) and
// returns them.
func (p *parser) crossCheck(srcs []*svcSrc, servicesKey *yaml.Node) []Service {
	type claim struct {
		proto policy.Proto
		port  uint16
		dst   netip.Prefix // zero: any destination
	}
	type owner struct {
		src  *svcSrc
		node *yaml.Node
	}
	names := map[string]*svcSrc{}
	claims := map[claim]owner{}
	var out []Service
	ided, destEntries := 0, 0
	for _, src := range srcs {
		s := &src.s
		if first, dup := names[s.Name]; dup {
			p.addf(src.nameNode, join(src.field, "name"), "%q is already the name of %s (line %d); names are unique: set all of a service's fields in one entry",
				s.Name, first.field, first.nameNode.Line)
			continue
		}
		names[s.Name] = src
		if s.Protected() {
			if ided++; ided == policy.MaxServiceID+1 {
				p.addf(src.node, src.field, "more than %d services besides smtp (enabled or not); the datapath numbers them 1..%d: remove or merge some",
					policy.MaxServiceID, policy.MaxServiceID)
			}
		}
		out = append(out, *s)
		if !s.Enabled {
			continue
		}
		if s.Protected() {
			destEntries += len(s.Protocols) * len(s.Ports) * len(s.Destinations)
		}
		dsts := s.Destinations
		if len(dsts) == 0 {
			dsts = []netip.Prefix{{}}
		}
		for _, proto := range s.Protocols {
			for j, port := range s.Ports {
				at, atField, fromDefault := src.nameNode, join(src.field, "name"), ""
				if src.portNodes != nil {
					at, atField = src.portNodes[j], index(join(src.field, "ports"), j)
				} else {
					fromDefault = fmt.Sprintf(" (a default port of %s; set ports to change them)", s.Name)
				}
				for _, dst := range dsts {
					if dst.IsValid() {
						dst = policy.Normalize(dst)
					}
					c := claim{proto, port, dst}
					if o, taken := claims[c]; taken {
						to := ""
						if dst.IsValid() {
							to = " to " + dst.String()
						}
						p.addf(at, atField, "%v port %d%s%s is already claimed by service %q (%s, line %d); give the two services different destinations, or disable one with enabled: false",
							proto, port, to, fromDefault, o.src.s.Name, o.src.field, o.node.Line)
						break
					}
					claims[c] = owner{src, at}
				}
			}
		}
	}
	if destEntries > MaxDestinations {
		p.addf(servicesKey, "services", "%d destination entries (protocols x ports x destinations of enabled services); the datapath holds %d: use fewer, shorter destination prefixes",
			destEntries, MaxDestinations)
	}
	return out
}
