package explain

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mailgate/enforcer/policy"
)

// Query is what to explain, as the operator wrote it (`enforcer check IP
// --service NAME | --port N [--proto tcp|udp]`).
type Query struct {
	IP      string // a source address
	Service string // an enforced service by name; or
	Port    string // a destination port, with
	Proto   string // tcp (default) or udp
}

// Result is a verdict and the rule that decided it. It is also the admin
// API's answer to a check (adminapi.CheckResult).
type Result struct {
	IP      string `json:"ip"`
	Service string `json:"service"`
	Proto   string `json:"proto"`
	Port    uint16 `json:"port"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Country string `json:"country"`
	Rule    string `json:"rule"` // human-readable: which entry decided
}

// QueryError is a query that cannot be answered as written: its message
// says what to give instead.
type QueryError struct{ msg string }

func (e *QueryError) Error() string { return e.msg }

func queryError(format string, a ...any) error {
	return &QueryError{msg: fmt.Sprintf(format, a...)}
}

// Check explains the verdict the datapath gives q.IP on a service (by
// name) or on a protocol and port, from m, the reference model of pol. A
// query it cannot answer is a *QueryError.
func Check(pol *policy.Policy, m *policy.Model, q Query) (Result, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(q.IP))
	if err != nil {
		return Result{}, queryError("%q is not an IP address", q.IP)
	}
	ip = ip.Unmap()
	proto := policy.TCP
	switch strings.ToLower(q.Proto) {
	case "", "tcp":
	case "udp":
		proto = policy.UDP
	default:
		return Result{}, queryError("--proto %q: want tcp or udp", q.Proto)
	}
	var port uint16
	dst := netip.IPv6Unspecified()
	if ip.Is4() {
		dst = netip.IPv4Unspecified()
	}
	switch {
	case q.Service != "" && q.Port != "":
		return Result{}, queryError("give --service or --port, not both")
	case q.Service != "":
		var svc *policy.Service
		for i := range pol.Services {
			if pol.Services[i].Name == q.Service {
				svc = &pol.Services[i]
			}
		}
		if svc == nil {
			return Result{}, queryError("no enforced service %q (disabled, smtp, or not configured); see `enforcer service list`", q.Service)
		}
		proto, port = svc.Protocols[0], svc.Ports[0]
		if len(svc.Destinations) > 0 {
			dst = svc.Destinations[0].Addr()
		}
	case q.Port != "":
		n, err := strconv.ParseUint(q.Port, 10, 16)
		if err != nil || n == 0 {
			return Result{}, queryError("--port %q: want a port number 1-65535", q.Port)
		}
		port = uint16(n)
	default:
		return Result{}, queryError("say what to check: --service NAME, or --port N [--proto tcp|udp]")
	}
	v := m.JudgeFlow(ip, dst, proto, port)
	res := Result{IP: ip.String(), Proto: proto.String(), Port: port, Verdict: v.Action.String(), Reason: v.Reason.String(), Country: v.Country}
	if v.Reason == policy.ReasonUntouched {
		res.Rule = fmt.Sprintf("%s/%d is not a protected service: passes untouched", proto, port)
		return res, nil
	}
	var svc *policy.Service
	for i := range pol.Services {
		if pol.Services[i].ID == v.Service {
			svc = &pol.Services[i]
		}
	}
	res.Service = svc.Name
	cc := v.Country
	if cc == "" {
		cc = "none"
	}
	switch v.Reason {
	case policy.ReasonDeny:
		res.Rule = "deny list entry " + containing(pol.Deny, ip).String()
	case policy.ReasonAllowlist:
		if svc.AdmitAll {
			res.Rule = fmt.Sprintf("%s admits every source not in the deny list (admit: all), and %v is in no deny list entry", svc.Name, ip)
			break
		}
		res.Rule = fmt.Sprintf("allowlist entry %v of %s", containing(svc.Allow, ip), svc.Name)
	case policy.ReasonCountry:
		res.Rule = fmt.Sprintf("country %s is in %s's set %v", cc, svc.Name, svc.Countries)
	case policy.ReasonNoCountry:
		res.Rule = fmt.Sprintf("%s is geofenced and the GeoIP database has no country for %v", svc.Name, ip)
	case policy.ReasonNotInSet:
		if svc.Geofenced {
			res.Rule = fmt.Sprintf("country %s is not in %s's set %v, and %v is in no allowlist entry", cc, svc.Name, svc.Countries, ip)
		} else {
			res.Rule = fmt.Sprintf("%s admits only its allowlist, which does not hold %v", svc.Name, ip)
		}
	}
	return res, nil
}

// containing is the longest prefix of ps that holds a, as the datapath
// matches.
func containing(ps []netip.Prefix, a netip.Addr) netip.Prefix {
	var best netip.Prefix
	for _, p := range ps {
		p = policy.Normalize(p)
		if p.Contains(a) && (!best.IsValid() || p.Bits() > best.Bits()) {
			best = p
		}
	}
	return best
}
