// Package policy holds enforcer's network policy model and the pure-Go
// reference of the XDP verdict: the same answer as bpf/enforcer.c from the
// same inputs. Tests use it as the oracle for the loaded program, and
// `enforcer check` uses it to explain a verdict (policy/explain).
//
// policy/ is the network policy only: this model, the frame parser, the
// runtime state (store), the composition of the policy in force
// (compose) and the verdict explainer (explain). It must not know the
// config file's format (cmd/enforcer/config converts into compose's
// input), the daemon, or the L7 proxy and device engine (l7/...);
// test/layout checks that nothing under policy/ imports l7/ or cmd/.
package policy

import (
	"fmt"
	"net/netip"
)

// Proto is an IP protocol number the datapath can protect.
type Proto uint8

// Protocols a service can be reached by.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// MaxServiceID is the highest datapath service id; 0 means "no service".
const MaxServiceID = 63

// Service is one protected service.
type Service struct {
	ID        uint8 // datapath id, 1..MaxServiceID, unique
	Name      string
	Protocols []Proto
	Ports     []uint16
	// Destinations limits the service to these destination prefixes; empty
	// means any destination. On one protocol and port, a destination-limited
	// service wins over an unlimited one (longest destination prefix first).
	Destinations []netip.Prefix
	Allow        []netip.Prefix // CIDR allowlist
	Countries    []string       // ISO 3166-1 alpha-2 codes admitted when Geofenced
	// Geofenced services admit sources from their Countries; others admit
	// only their allowlist.
	Geofenced bool
	// AdmitAll services admit every source not in Deny; their Allow holds
	// 0.0.0.0/0 and ::/0 (policy/compose puts them there), which is how
	// the model and the datapath admit them. Explanations use the flag.
	AdmitAll bool
}

// Network is one entry of the country table.
type Network struct {
	Prefix  netip.Prefix
	Country string // "" for a network with no country
}

// Policy is everything the datapath enforces.
type Policy struct {
	Services []Service
	Deny     []netip.Prefix
	Networks []Network
}

// Action is what happens to a packet.
type Action uint8

// Actions, numbered as the datapath's verdict counter index.
const (
	Pass Action = 0
	Drop Action = 1
)

func (a Action) String() string {
	if a == Drop {
		return "drop"
	}
	return "pass"
}

// Reason is why; numbered as the datapath's enum reason.
type Reason uint8

// Reasons.
const (
	ReasonDeny      Reason = 0 // source in the deny list
	ReasonAllowlist Reason = 1 // source in the service's allowlist
	ReasonCountry   Reason = 2 // source's country in the service's set
	ReasonNoCountry Reason = 3 // geofenced service, source without a country
	ReasonNotInSet  Reason = 4 // neither allowlisted nor in an allowed country
	ReasonMalformed Reason = 5 // headers that cannot be judged
	ReasonFragment  Reason = 6 // later fragment (pass) or tiny first fragment (drop)
	NumReasons             = 7
	// ReasonUntouched is not a datapath reason: the packet is not to a
	// protected service and passes uncounted.
	ReasonUntouched Reason = 255
)

var reasonNames = [...]string{"deny", "allowlist", "country", "no-country", "not-in-set", "malformed", "fragment"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	if r == ReasonUntouched {
		return "untouched"
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Verdict is the reference model's answer for one packet.
type Verdict struct {
	Action  Action
	Reason  Reason
	Service uint8  // the protected service, 0 if none or unknown
	Country string // the source's country where it was looked up
}

// Counted reports whether the datapath counts this verdict.
func (v Verdict) Counted() bool { return v.Reason != ReasonUntouched }

func (v Verdict) String() string {
	return fmt.Sprintf("%s (%s, service %d, country %q)", v.Action, v.Reason, v.Service, v.Country)
}
